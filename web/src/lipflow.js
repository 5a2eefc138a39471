// A thin JavaScript face of the lipflow WebAssembly module (the C API of lib/c_api/lipflow.h).
// It owns the string, out-pointer and array conversions, so that the worker and the Node tools never
// touch the module's heap themselves. Every failing call throws an Error carrying the C API's code and
// lipflow_last_error()'s message. Nothing here allocates on the module's heap past the call that needs
// it, except the handles (runs) that the caller destroys.

/** Wraps an instantiated module (the value createLipflow() resolves to). */
export function wrapModule(M) {
  const str = (p) => (p === 0 ? null : M.UTF8ToString(p));

  /** Calls f with a NUL-terminated copy of s on the module's heap; frees it afterwards. */
  const withString = (s, f) => {
    const n = M.lengthBytesUTF8(s) + 1;
    const p = M._malloc(n);
    M.stringToUTF8(s, p, n);
    try { return f(p); } finally { M._free(p); }
  };

  /** Calls f(pp) with a pointer-sized out slot and returns what f stored there; throws on a code. */
  const created = (what, f) => {
    const pp = M._malloc(4);
    try {
      const code = f(pp);
      if (code !== 0) throw lipflowError(what, code);
      return M.getValue(pp, 'i32');
    } finally { M._free(pp); }
  };

  const lipflowError = (what, code) => {
    const e = new Error(`${what}: ${str(M._lipflow_last_error()) || `code ${code}`}`);
    e.code = code;
    return e;
  };

  /** Every series of a result handle, in result.json's shape: {name, x_label, y_label, x, y}. */
  const readSeries = (result) => {
    const out = [];
    const count = M._lipflow_result_series_count(result);
    for (let i = 0; i < count; i++) {
      const n = M._lipflow_result_series_length(result, i);
      const bytes = Math.max(n, 1) * 8;
      const xs = M._malloc(bytes), ys = M._malloc(bytes), cnt = M._malloc(4);
      try {
        const code = M._lipflow_result_series_read(result, i, 0, xs, ys, n, cnt);
        if (code !== 0) throw lipflowError('series', code);
        const got = M.getValue(cnt, 'i32');
        out.push({
          name: str(M._lipflow_result_series_name(result, i)),
          x_label: str(M._lipflow_result_series_x_label(result, i)),
          y_label: str(M._lipflow_result_series_y_label(result, i)),
          x: Array.from(new Float64Array(M.HEAPF64.buffer, xs, got)),
          y: Array.from(new Float64Array(M.HEAPF64.buffer, ys, got)),
        });
      } finally { M._free(xs); M._free(ys); M._free(cnt); }
    }
    return out;
  };

  /** A result handle as a plain object (the parsed result.json text); destroys the handle. */
  const takeResult = (result) => {
    try {
      return JSON.parse(str(M._lipflow_result_json(result)));
    } finally { M._lipflow_result_destroy(result); }
  };

  return {
    module: M,
    version: () => str(M._lipflow_version()),
    simdLanes: () => M._lipflow_simd_lanes(),
    /** Bytes of the module's linear memory (what the page uses, all of it). */
    heapBytes: () => M.HEAP8.buffer.byteLength,

    /** The presets: [{id, claim, setup}], in the library's order (E1..E9). */
    presets() {
      const list = [];
      const n = M._lipflow_preset_count();
      for (let i = 0; i < n; i++) {
        list.push({ id: str(M._lipflow_preset_id(i)), claim: str(M._lipflow_preset_claim(i)),
                    setup: str(M._lipflow_preset_setup(i)) });
      }
      return list;
    },

    /** Runs a preset whole (blocking) and returns its result.json object. onProgress(fraction, stage)
     *  is called during the run. */
    runPreset(id, quick, seed, onProgress) {
      M.onProgress = onProgress || null;
      try {
        return takeResult(withString(id, (p) => created(`preset ${id}`,
          (pp) => M._lipflow_wasm_preset_run(p, quick ? 1 : 0, seed, pp))));
      } finally { M.onProgress = null; }
    },

    /** A steppable run of a preset's reference model, or null for presets that train nothing. */
    createPresetRun(id, quick, seed) {
      let handle;
      try {
        handle = withString(id, (p) => created(`preset ${id}`,
          (pp) => M._lipflow_wasm_run_create_preset(p, quick ? 1 : 0, seed, pp)));
      } catch (e) {
        if (e.code === 1) return null;  // LIPFLOW_INVALID_ARGUMENT: the preset trains no model
        throw e;
      }
      return makeRun(handle);
    },

    /** A steppable run of a config (JSON text or object); throws with the field named when invalid. */
    createRun(config) {
      const text = typeof config === 'string' ? config : JSON.stringify(config);
      return makeRun(withString(text, (p) => created('config', (pp) => M._lipflow_run_create(p, pp))));
    },
  };

  function makeRun(h) {
    return {
      /** Trains up to n more steps; a stop (completion, divergence, NaN) is not an error. */
      step(n) {
        const code = M._lipflow_run_step(h, n);
        if (code !== 0) throw lipflowError('step', code);
      },
      finished: () => M._lipflow_run_finished(h) !== 0,
      stopReason: () => M._lipflow_run_stop_reason(h),
      stopMessage: () => str(M._lipflow_run_stop_message(h)),
      stepsDone: () => M._lipflow_wasm_run_steps_done(h),
      totalSteps: () => M._lipflow_wasm_run_total_steps(h),
      lastLoss: () => M._lipflow_run_last_loss(h),
      testLoss: () => M._lipflow_run_test_loss(h),
      testAccuracy: () => M._lipflow_run_test_accuracy(h),
      memoryBytes: () => M._lipflow_run_memory_bytes(h),
      parameterCount: () => M._lipflow_run_parameter_count(h),
      config: () => JSON.parse(str(M._lipflow_run_config_json(h))),
      describe: () => str(M._lipflow_run_describe(h)),
      inputSize: () => M._lipflow_run_input_size(h),
      outputSize: () => M._lipflow_run_output_size(h),
      /** The series so far: [{name, x_label, y_label, x, y}]. */
      series() {
        const r = created('collect', (pp) => M._lipflow_run_collect(h, pp));
        try { return readSeries(r); } finally { M._lipflow_result_destroy(r); }
      },
      /** The series so far as a result.json object (its verdict: the run completes). */
      result() {
        return takeResult(created('collect', (pp) => M._lipflow_run_collect(h, pp)));
      },
      /** The model's outputs for rows of inputs (a Float32Array of count x inputSize). */
      predict(inputs, count) {
        const inBytes = inputs.length * 4, outLen = count * M._lipflow_run_output_size(h);
        const pin = M._malloc(inBytes), pout = M._malloc(outLen * 4);
        try {
          M.HEAPF32.set(inputs, pin / 4);
          const code = M._lipflow_run_predict(h, pin, count, pout);
          if (code !== 0) throw lipflowError('predict', code);
          return new Float32Array(M.HEAPF32.buffer, pout, outLen).slice();
        } finally { M._free(pin); M._free(pout); }
      },
      // ---- Analysis
      /** The model's top-level layers: [{name, size}], size = singular values of its Jacobian (0: none). */
      layers() {
        const n = M._lipflow_run_layer_count(h), out = [];
        for (let i = 0; i < n; i++) {
          out.push({ name: str(M._lipflow_run_layer_name(h, i)), size: M._lipflow_run_layer_spectrum_size(h, i) });
        }
        return out;
      },
      /** The singular values (descending, a Float64Array) of layer's Jacobian at test sample `sample`. */
      layerSpectrum(layer, sample = 0) {
        const k = Math.max(M._lipflow_run_layer_spectrum_size(h, layer), 1);
        const ps = M._malloc(k * 8), pc = M._malloc(4);
        try {
          const code = M._lipflow_run_layer_spectrum(h, layer, sample, ps, k, pc);
          if (code !== 0) throw lipflowError('layer spectrum', code);
          return new Float64Array(M.HEAPF64.buffer, ps, M.getValue(pc, 'i32')).slice();
        } finally { M._free(ps); M._free(pc); }
      },
      /** The test split: {inputs: Float32Array (count x inputSize), labels: Float64Array}. */
      testSamples() {
        const n = M._lipflow_run_test_sample_count(h), d = M._lipflow_run_input_size(h);
        const px = M._malloc(Math.max(n * d, 1) * 4), pl = M._malloc(Math.max(n, 1) * 8), pc = M._malloc(4);
        try {
          const code = M._lipflow_run_test_samples(h, 0, px, pl, n, pc);
          if (code !== 0) throw lipflowError('test samples', code);
          const got = M.getValue(pc, 'i32');
          return { inputs: new Float32Array(M.HEAPF32.buffer, px, got * d).slice(),
                   labels: new Float64Array(M.HEAPF64.buffer, pl, got).slice() };
        } finally { M._free(px); M._free(pl); M._free(pc); }
      },
      destroy() { M._lipflow_run_destroy(h); h = 0; },
    };
  }
}

// The page's long main-thread tasks, for the browser tests: watchLongTasks(page) records every task
// over 50 ms (a PerformanceObserver on 'longtask', from each page load on); longTasksSince(page, t0)
// returns those that started at or after t0 (the page's performance.now()), each with the name of the
// test phase it started in (see phase(); 'load' before the first). LIPFLOW_CPU_THROTTLE=n slows the
// page's main thread n times (Chromium's CPU throttling), to see what a slower or loaded machine gets.
export const LONG_TASK_MS = 100;

export async function watchLongTasks(page) {
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  const rate = Number(process.env.LIPFLOW_CPU_THROTTLE || 1);
  if (rate > 1) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate });
  }
}

/** Marks the start of a test phase (the long tasks after it are reported in it). */
export function phase(page, name) {
  return page.evaluate((n) => (window.__phases ||= []).push([n, performance.now()]), name);
}

/** The page's clock (performance.now()). */
export function now(page) {
  return page.evaluate(() => performance.now());
}

/** The long tasks that started at or after `since`: [{start, duration, phase}]. */
export function longTasksSince(page, since) {
  return page.evaluate((t0) => window.__longTasks.filter((t) => t.start >= t0).map((t) => ({
    ...t, phase: ((window.__phases || []).filter(([, at]) => at <= t.start).pop() || ['load'])[0] })), since);
}

/** The longest duration of a list of tasks (0 for none), and a note of those over LONG_TASK_MS. */
export function longest(tasks) {
  const worst = Math.max(0, ...tasks.map((t) => t.duration));
  const over = tasks.filter((t) => t.duration > LONG_TASK_MS).map((t) => `${t.duration.toFixed(0)} ms in ${t.phase}`);
  return { worst, note: over.length ? ` (over: ${over.join(', ')})` : '' };
}

"""Web vitals of each page a browser step loads, read from the page's Performance APIs.

An init script (added to every browser context) starts PerformanceObservers for the first paints,
LCP and layout shifts before the page's own scripts run; `SNAPSHOT_SCRIPT` reads them with the
navigation timings. Times are seconds from the start of the navigation.

Headless Chromium paints a page some tens of milliseconds after its `load` event, so a reading
taken right after `goto` can come before the first paint. The snapshot of a loaded page therefore
waits, bounded by the time it is given, for the first contentful paint and the first LCP entry of
its document; a document that has not painted by then is read as it is (FCP and LCP None), and
later readings of that document no longer wait.
"""

from __future__ import annotations

from typing import Any

INIT_SCRIPT = """
(() => {
  if (window !== window.top || window.__journeyprobeVitals) return;
  const v = window.__journeyprobeVitals = {
    id: Date.now().toString(36) + Math.random().toString(36).slice(2), fcp: null, lcp: null, cls: 0,
    waited: false,
  };
  let painted;
  v.painted = new Promise((resolve) => { painted = resolve; });
  const check = () => { if (v.fcp !== null && v.lcp !== null) painted(); };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.name === 'first-contentful-paint') v.fcp = e.startTime;
      check();
    }).observe({type: 'paint', buffered: true});
  } catch (e) {}
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) v.lcp = e.renderTime || e.loadTime || e.startTime;
      check();
    }).observe({type: 'largest-contentful-paint', buffered: true});
  } catch (e) {}
  // CLS as Chrome defines it: the largest session window (gaps < 1 s, windows <= 5 s).
  let value = 0, first = 0, last = 0;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.hadRecentInput) continue;
        if (value && e.startTime - last < 1000 && e.startTime - first < 5000) {
          value += e.value;
        } else {
          value = e.value;
          first = e.startTime;
        }
        last = e.startTime;
        if (value > v.cls) v.cls = value;
      }
    }).observe({type: 'layout-shift', buffered: true});
  } catch (e) {}
})();
"""

SNAPSHOT_SCRIPT = """
async (waitMs) => {
  const v = window.__journeyprobeVitals;
  const nav = performance.getEntriesByType('navigation')[0];
  if (!v || !nav) return null;
  // Only a loaded web page is waited for: one still loading is read again later (a `goto` that timed
  // out must not spend the time its step keeps for failure artifacts).
  if ((v.fcp === null || v.lcp === null) && !v.waited && waitMs > 0 && document.readyState === 'complete'
      && /^https?:$/.test(location.protocol)) {
    let timer;
    const late = new Promise((resolve) => { timer = setTimeout(() => resolve(false), waitMs); });
    const painted = await Promise.race([v.painted.then(() => true), late]);
    clearTimeout(timer);
    if (!painted) v.waited = true;  // it may never paint: later readings do not wait again
  }
  const entry = performance.getEntriesByName('first-contentful-paint')[0];
  const fcp = v.fcp !== null ? v.fcp : (entry ? entry.startTime : null);
  return {id: v.id, url: nav.name, ttfb: nav.responseStart, fcp: fcp,
          lcp: v.lcp, cls: v.cls, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};
}
"""

PAINT_WAIT_S = 0.5
"""Longest wait of one reading for a document's first paint (less when the step has less time left)."""


def _seconds(ms: Any) -> float | None:
    if not isinstance(ms, (int, float)) or ms <= 0:
        return None
    return round(ms / 1000.0, 4)


def to_vital(raw: dict[str, Any]) -> dict[str, Any]:
    """The result's form of one page's vitals: seconds, and None for what the page never reached."""
    cls = raw.get("cls")
    return {
        "url": str(raw.get("url", "")),
        "ttfb_s": _seconds(raw.get("ttfb")),
        "fcp_s": _seconds(raw.get("fcp")),
        "lcp_s": _seconds(raw.get("lcp")),
        "cls": round(float(cls), 4) if isinstance(cls, (int, float)) else None,
        "dom_content_loaded_s": _seconds(raw.get("dcl")),
        "load_s": _seconds(raw.get("load")),
    }


class VitalsLog:
    """The latest snapshot of each document of one run, in the order the documents were first seen."""

    def __init__(self) -> None:
        self._by_document: dict[str, dict[str, Any]] = {}

    def add(self, raw: object) -> None:
        if not isinstance(raw, dict) or not raw.get("id"):
            return
        url = str(raw.get("url", ""))
        if not url.startswith(("http://", "https://")):
            return
        self._by_document[str(raw["id"])] = raw

    def entries(self) -> list[dict[str, Any]]:
        return [to_vital(raw) for raw in self._by_document.values()]

    def take(self, since: int) -> list[dict[str, Any]]:
        """The vitals of documents first seen at index `since` or later (one step's pages)."""
        return self.entries()[since:]

    def __len__(self) -> int:
        return len(self._by_document)

/*
 * clickstream.js: records a page's clicks and sends them, in batches, to the ingestion endpoint
 * of clickstream-lambda's stack (its IngestEndpointUrl output). Plain JavaScript, no build step,
 * no dependencies. See the README, "Sending clicks from a website".
 *
 *   <script src="/clickstream.js" data-endpoint="https://abc123.execute-api.eu-west-1.amazonaws.com/v1/clicks"></script>
 *
 * or, to give the user or change the batching:
 *
 *   <script src="/clickstream.js"></script>
 *   <script>ClickStream.init({endpoint: "https://.../v1/clicks", userId: 42});</script>
 *
 * Wire format (the endpoint's request model, IngestClicksModel in template.yaml): a text/plain
 * body {"records": [click, ...]} of 1 to 100 clicks, each
 *   {"timestamp": "2026-12-03T09:15:30.123Z", "user_id": 42 or "anon-…", "page_url": "/shop",
 *    "event_type": "click", "element_id": "buy", "x_coordinate": 640, "y_coordinate": 360}
 * element_id is left out when neither the clicked element nor an ancestor has an id. text/plain
 * is a CORS-safelisted type, so the browser sends it without a preflight.
 *
 * Batches leave when maxRecords clicks are queued, flushMs after the first click of a batch,
 * and when the page is hidden or left (visibilitychange, pagehide). Each body stays within
 * maxBytes, under the 64 KiB that a page may have in flight in beacons and keepalive requests.
 * Delivery is at most once: a beacon gets no answer, so nothing is retried after it left.
 */
(function (global) {
  "use strict";

  // The endpoint's request model, field by field (template.yaml, IngestClicksModel; a test
  // checks they agree). Strings are cut to these lengths, so every record is valid.
  var LIMITS = {
    records: 100,
    timestamp: 64,
    user_id: 128,
    page_url: 1024,
    event_type: 32,
    element_id: 256,
    coordinate: 1000000
  };
  // Under sendBeacon's 64 KiB quota, with room for a second request in flight.
  var MAX_BYTES = 60000;
  var WRAPPER_BYTES = '{"records":[]}'.length;

  var defaults = {
    endpoint: null,
    userId: null,
    maxRecords: 50,
    maxBytes: MAX_BYTES,
    flushMs: 5000,
    maxQueued: 1000,
    // The path only: query strings and fragments can hold tokens and personal data.
    pageUrl: function () { return global.location.pathname; }
  };

  var options = null;
  var queue = []; // [{json, bytes}]
  var timer = null;
  var counts = { recorded: 0, sent: 0, batches: 0, dropped: 0 };

  var encoder = typeof TextEncoder === "function" ? new TextEncoder() : null;
  function byteLength(text) {
    // Text is well formed (below), so encodeURIComponent cannot throw.
    return encoder ? encoder.encode(text).length : unescape(encodeURIComponent(text)).length;
  }

  // A lone UTF-16 surrogate becomes U+FFFD: the function refuses records holding one (JSON
  // writes it as a \uD800 escape). toWellFormed where the browser has it, else by hand.
  function wellFormed(text) {
    if (typeof text.toWellFormed === "function") return text.toWellFormed();
    var out = "";
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        var next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
        if (next >= 0xdc00 && next <= 0xdfff) {
          out += text.charAt(i) + text.charAt(i + 1);
          i += 1;
          continue;
        }
        out += "\uFFFD";
      } else if (c >= 0xdc00 && c <= 0xdfff) {
        out += "\uFFFD";
      } else {
        out += text.charAt(i);
      }
    }
    return out;
  }

  // At most `max` UTF-16 units, never splitting a surrogate pair.
  function cut(value, max) {
    var text = wellFormed(String(value));
    if (text.length <= max) return text;
    var end = max;
    var last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end -= 1;
    return text.slice(0, end);
  }

  function coordinate(value) {
    var n = Math.round(Number(value));
    if (!(n > 0)) return 0;
    return n > LIMITS.coordinate ? LIMITS.coordinate : n;
  }

  function elementId(target) {
    for (var el = target; el && el.nodeType === 1; el = el.parentNode) {
      if (typeof el.id === "string" && el.id !== "") return el.id;
    }
    return null;
  }

  function anonymousUser() {
    var key = "clickstream.user";
    try {
      var kept = global.sessionStorage.getItem(key);
      if (kept) return kept;
    } catch (e) { /* storage blocked: an id for this page only */ }
    var bytes = new Uint8Array(8);
    global.crypto.getRandomValues(bytes);
    var id = "anon-";
    for (var i = 0; i < bytes.length; i++) id += (bytes[i] + 0x100).toString(16).slice(1);
    try { global.sessionStorage.setItem(key, id); } catch (e) { /* see above */ }
    return id;
  }

  function userId(given) {
    if (typeof given === "number" && Number.isSafeInteger(given)) return given;
    if (given !== null && given !== undefined && String(given) !== "") {
      return cut(given, LIMITS.user_id);
    }
    return anonymousUser();
  }

  function record(event) {
    var click = {
      timestamp: new Date().toISOString(),
      user_id: options.userId,
      page_url: cut(options.pageUrl() || "/", LIMITS.page_url),
      event_type: "click"
    };
    var id = elementId(event.target);
    if (id !== null) click.element_id = cut(id, LIMITS.element_id);
    click.x_coordinate = coordinate(event.pageX);
    click.y_coordinate = coordinate(event.pageY);
    var json = JSON.stringify(click);
    queue.push({ json: json, bytes: byteLength(json) });
    counts.recorded += 1;
    while (queue.length > options.maxQueued) {
      queue.shift();
      counts.dropped += 1;
    }
    if (queue.length >= options.maxRecords) {
      flush();
    } else if (timer === null) {
      timer = global.setTimeout(flush, options.flushMs);
    }
  }

  // true once the browser has taken the body. A beacon the browser refuses (false: its
  // in-flight quota is full) is not retried with fetch, which shares that quota; the batch stays
  // queued. fetch is for browsers without sendBeacon, or whose sendBeacon throws.
  function send(body) {
    var beacon = global.navigator.sendBeacon;
    if (typeof beacon === "function") {
      try {
        return beacon.call(global.navigator, options.endpoint, body);
      } catch (e) { /* fall back to fetch */ }
    }
    if (typeof global.fetch !== "function") return false;
    try {
      global.fetch(options.endpoint, {
        method: "POST",
        body: body,
        keepalive: true,
        credentials: "omit",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }
      }).catch(function () { /* at most once: the body may have arrived */ });
      return true;
    } catch (e) {
      return false;
    }
  }

  // Sends everything queued, as batches within maxRecords and maxBytes. A batch the browser
  // refuses to queue (its in-flight quota is full) goes back to the front for the next flush.
  function flush() {
    if (timer !== null) {
      global.clearTimeout(timer);
      timer = null;
    }
    while (queue.length > 0) {
      var take = 0;
      var bytes = WRAPPER_BYTES;
      while (take < queue.length && take < options.maxRecords) {
        var more = queue[take].bytes + (take > 0 ? 1 : 0);
        if (take > 0 && bytes + more > options.maxBytes) break;
        bytes += more;
        take += 1;
      }
      var batch = queue.slice(0, take);
      var body = '{"records":[' + batch.map(function (r) { return r.json; }).join(",") + "]}";
      if (!send(body)) {
        if (queue.length > 0) timer = global.setTimeout(flush, options.flushMs);
        return;
      }
      queue.splice(0, take);
      counts.sent += take;
      counts.batches += 1;
    }
  }

  function onHide() {
    if (global.document.visibilityState === "hidden") flush();
  }

  function bounded(value, fallback, low, high) {
    var n = Number(value);
    if (value === undefined || value === null || !isFinite(n)) return fallback;
    n = Math.floor(n);
    return n < low ? low : n > high ? high : n;
  }

  function init(given) {
    if (options !== null) return ClickStream;
    given = given || {};
    if (!given.endpoint) throw new Error("ClickStream.init: endpoint is required");
    options = {
      endpoint: String(given.endpoint),
      maxRecords: bounded(given.maxRecords, defaults.maxRecords, 1, LIMITS.records),
      maxBytes: bounded(given.maxBytes, defaults.maxBytes, 512, MAX_BYTES),
      flushMs: bounded(given.flushMs, defaults.flushMs, 100, 3600000),
      maxQueued: bounded(given.maxQueued, defaults.maxQueued, 1, 100000),
      pageUrl: typeof given.pageUrl === "function" ? given.pageUrl : defaults.pageUrl
    };
    options.userId = userId(given.userId);
    global.document.addEventListener("click", record, { capture: true, passive: true });
    global.document.addEventListener("visibilitychange", onHide);
    global.addEventListener("pagehide", flush);
    return ClickStream;
  }

  var ClickStream = {
    init: init,
    flush: function () { if (options !== null) flush(); },
    stats: function () {
      return { recorded: counts.recorded, sent: counts.sent, batches: counts.batches,
        dropped: counts.dropped, queued: queue.length };
    },
    LIMITS: LIMITS
  };
  global.ClickStream = ClickStream;

  // <script src="clickstream.js" data-endpoint="..." data-user-id="..."> starts it at once.
  var script = global.document.currentScript;
  if (script && script.getAttribute("data-endpoint")) {
    init({
      endpoint: script.getAttribute("data-endpoint"),
      userId: script.getAttribute("data-user-id"),
      maxRecords: script.getAttribute("data-max-records"),
      flushMs: script.getAttribute("data-flush-ms")
    });
  }
})(window);

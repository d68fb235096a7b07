// The timeline of a file: what each integration style did to it, drawn from the bridge's
// events API and kept up to date from its live stream. It mounts on every element of
// class "wb-timeline" whose data-events attribute is the events URL of the file, with
// the page's credential in its query (EventSource cannot send headers).
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var LANES = [{style: "docs", label: "Docs API"}, {style: "wopi", label: "WOPI"}];
  var STYLE_LABEL = {docs: "Docs API", wopi: "WOPI"};
  var LABEL_W = 92; // the lane labels, left of the drawing
  var AXIS_H = 24;
  // The heights of a lane's parts: a row of lock bars, the row of saves, a row of the
  // other events, and the space above, between and below them.
  var SIZES = {row: 20, save: 18, point: 18, top: 8, gap: 4, bottom: 6};
  var COMPACT = {row: 17, save: 13, point: 15, top: 5, gap: 2, bottom: 3};
  var TICKS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    for (var k in attrs || {}) {
      n.setAttribute(k, attrs[k]);
    }
    if (text !== undefined) {
      n.textContent = text;
    }
    return n;
  }

  function sv(tag, attrs, title) {
    var n = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) {
      n.setAttribute(k, attrs[k]);
    }
    if (title) {
      var t = document.createElementNS(SVGNS, "title");
      t.textContent = title;
      n.appendChild(t);
    }
    return n;
  }

  function pad(n, w) {
    var s = String(n);
    while (s.length < (w || 2)) {
      s = "0" + s;
    }
    return s;
  }

  function clock(d, ms) {
    var s = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
    return ms ? s + "." + pad(d.getUTCMilliseconds(), 3) : s;
  }

  function day(d) {
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
  }

  function when(d) {
    return day(d) + " " + clock(d) + " UTC";
  }

  function short(s) {
    return s && s.length > 20 ? s.slice(0, 18) + "…" : (s || "");
  }

  function duration(ms) {
    if (ms < 1) {
      return ms.toFixed(2) + " ms";
    }
    if (ms < 1000) {
      return Math.round(ms) + " ms";
    }
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  }

  function size(n) {
    if (n < 1024) {
      return n + " B";
    }
    var units = ["KB", "MB", "GB"], v = n / 1024, i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return v.toFixed(v < 10 ? 1 : 0) + " " + units[i];
  }

  function who(user, name) {
    if (name && user && name !== user) {
      return name + " (" + user + ")";
    }
    return name || user || "";
  }

  // holderText says who holds the file, as the line on top and the reasons do.
  function holderText(h) {
    var s = who(h.user) || "someone";
    var parts = [STYLE_LABEL[h.style] || h.style];
    if (h.session) {
      parts.push("session " + short(h.session));
    }
    return s + " (" + parts.join(", ") + ")";
  }

  function ok(status) {
    return !status || (status >= 200 && status < 300);
  }

  var OUTCOME_TEXT = {
    saved: "saved to storage",
    spooled: "storage refused: waiting in the state store",
    replayed: "waiting save reached storage",
    conflict: "written to a conflict copy",
    repeated: "repeated: nothing new written",
    refused: "refused",
    recovered: "moved to the recovery area"
  };

  var REASON_TEXT = {
    locked: "locked",
    no_edit_right: "the user may not edit this file",
    view_action: "view mode was asked for"
  };

  // describe is what the table and the tooltips say of an event: a short name, the
  // details, and whether it went wrong (drawn in red).
  function describe(e) {
    var what = e.kind, details = [], bad = false, warn = false;
    switch (e.kind) {
    case "opened":
      what = e.mode === "view" ? "opened read-only" : "opened for editing";
      if (e.mode === "view") {
        warn = true;
        if (e.reason === "locked" && e.holder) {
          details.push("held by " + holderText(e.holder) + (e.holder.since ? " since " + clock(new Date(e.holder.since)) : ""));
        } else if (e.reason) {
          details.push(REASON_TEXT[e.reason] || e.reason);
        }
      }
      break;
    case "joined":
      what = "joined";
      break;
    case "left":
      what = "left";
      break;
    case "lock":
      what = (e.op || "lock").toLowerCase().replace(/_/g, " ");
      bad = !ok(e.status);
      break;
    case "lock_conflict":
      what = "lock conflict";
      bad = true;
      if (e.holder) {
        details.push("held by " + holderText(e.holder));
      }
      break;
    case "save":
      what = "save " + (e.outcome || "");
      bad = e.outcome === "conflict" || e.outcome === "refused" || e.outcome === "recovered";
      warn = e.outcome === "spooled";
      if (e.outcome && OUTCOME_TEXT[e.outcome]) {
        details.push(OUTCOME_TEXT[e.outcome]);
      }
      if (e.conflict_copy) {
        details.push("copy " + e.conflict_copy);
      }
      if (e.bytes) {
        details.push(size(e.bytes));
      }
      if (e.duration_ms) {
        details.push("took " + duration(e.duration_ms));
      }
      if (e.version_before || e.version_after) {
        details.push("version " + short(e.version_before || "–") + " → " + short(e.version_after || "–"));
      }
      break;
    case "forcesave":
      what = "forcesave" + (e.outcome ? " " + e.outcome : "");
      bad = e.outcome === "refused" || e.outcome === "error";
      break;
    case "refused":
      what = "refused";
      bad = true;
      if (e.reason) {
        details.push(e.reason);
      }
      break;
    case "ended":
      what = "session ended";
      break;
    case "key_changed":
      what = "key changed";
      details.push(short(e.session) + " → " + short(e.new_session));
      break;
    }
    if (e.kind !== "opened" && e.kind !== "refused" && e.reason) {
      details.push(e.reason);
    }
    if (e.op && e.kind !== "lock") {
      details.push(/^[0-9]+$/.test(e.op) ? "DS status " + e.op : e.op);
    }
    if (e.status && String(e.status) !== e.op) {
      details.push("status " + e.status);
    }
    if (e.session && e.kind !== "key_changed") {
      details.push("session " + short(e.session));
    }
    if (e.detail) {
      details.push(e.detail);
    }
    return {what: what, details: details.join(" · "), bad: bad, warn: warn};
  }

  function tooltip(e, d) {
    var lines = [clock(new Date(e.time), true) + " " + (STYLE_LABEL[e.style] || e.style) + ": " + d.what];
    if (who(e.user, e.user_name)) {
      lines.push(who(e.user, e.user_name));
    }
    if (d.details) {
      lines.push(d.details);
    }
    return lines.join("\n");
  }

  // spans are the lock spans of one style: from joined or a granted LOCK to the session's
  // end, its last editor leaving or its UNLOCK.
  function spans(events, style, holder, now, free) {
    var open = {}, out = [];
    function key(e) {
      return e.session || e.user || "?";
    }
    function begin(k, e) {
      var s = open[k];
      if (!s) {
        s = open[k] = {start: e.t, end: null, session: e.session || "", users: {}, seq: e.seq};
        out.push(s);
      }
      if (e.user) {
        s.users[e.user] = who(e.user, e.user_name);
      }
      return s;
    }
    function finish(k, e) {
      var s = open[k];
      if (s) {
        s.end = e.t;
        delete open[k];
      }
    }
    events.forEach(function (e) {
      if (e.style !== style) {
        return;
      }
      var k = key(e);
      switch (e.kind) {
      case "joined":
        begin(k, e);
        break;
      case "lock":
        var op = (e.op || "").toUpperCase();
        if (op === "LOCK" && ok(e.status)) {
          begin(k, e);
        } else if (op === "UNLOCK" && ok(e.status)) {
          finish(k, e);
        }
        break;
      case "left":
        var s = open[k];
        if (s && e.user && s.users[e.user] !== undefined) {
          s.gone = s.gone || {};
          s.gone[e.user] = true;
          var left = Object.keys(s.users).every(function (u) { return s.gone[u]; });
          if (left || style === "wopi") {
            finish(k, e);
          }
        } else if (s && style === "wopi") {
          finish(k, e);
        }
        break;
      case "ended":
        finish(k, e);
        break;
      case "key_changed":
        if (open[k] && e.new_session) {
          var moved = open[k];
          delete open[k];
          moved.session = e.new_session;
          open[e.new_session] = moved;
        }
        break;
      }
    });
    // Nobody holds the file: a span still open ended when the page saw the file become
    // free or, when it was free from the start, at the last event before that.
    if (free) {
      var last = 0;
      events.forEach(function (e) {
        if (e.t <= free.at && e.t > last) {
          last = e.t;
        }
      });
      out.forEach(function (sp) {
        if (sp.end === null && sp.start <= free.at) {
          sp.end = Math.max(sp.start, free.live ? free.at : last);
        }
      });
    }
    // The holder the bridge reports now, when the events that began its span are gone.
    if (holder && holder.style === style && !open[holder.session || holder.user || "?"]) {
      var since = holder.since ? new Date(holder.since).getTime() : now;
      var h = {start: since, end: null, session: holder.session || "", users: {}, seq: 0, fromHolder: true};
      if (holder.user) {
        h.users[holder.user] = holder.user;
      }
      out.push(h);
    }
    return out;
  }

  function rowsOf(list) {
    var ends = [];
    list.sort(function (a, b) { return a.start - b.start; });
    list.forEach(function (s) {
      var end = s.end === null ? Infinity : s.end;
      for (var i = 0; i < ends.length; i++) {
        if (ends[i] < s.start) {
          s.row = i;
          ends[i] = end;
          return;
        }
      }
      s.row = ends.length;
      ends.push(end);
    });
    return Math.max(1, ends.length);
  }

  // shape draws an event's mark centred on x, y.
  function shape(kind, mode, x, y, cls, title) {
    switch (kind) {
    case "opened":
      return sv("circle", {cx: x, cy: y, r: 5.5, "class": cls + (mode === "view" ? " wb-view" : "")}, title);
    case "joined":
      return sv("path", {d: "M" + (x - 5.5) + " " + (y + 5) + "L" + x + " " + (y - 5.5) + "L" + (x + 5.5) + " " + (y + 5) + "Z", "class": cls}, title);
    case "left":
      return sv("path", {d: "M" + (x - 5.5) + " " + (y - 5) + "L" + x + " " + (y + 5.5) + "L" + (x + 5.5) + " " + (y - 5) + "Z", "class": cls}, title);
    case "lock_conflict":
    case "refused":
      return sv("path", {d: "M" + (x - 5) + " " + (y - 5) + "L" + (x + 5) + " " + (y + 5) + "M" + (x + 5) + " " + (y - 5) + "L" + (x - 5) + " " + (y + 5), "class": cls}, title);
    case "forcesave":
    case "key_changed":
      return sv("path", {d: "M" + x + " " + (y - 6) + "L" + (x + 6) + " " + y + "L" + x + " " + (y + 6) + "L" + (x - 6) + " " + y + "Z", "class": cls}, title);
    case "ended":
      return sv("rect", {x: x - 4.5, y: y - 4.5, width: 9, height: 9, "class": cls}, title);
    default:
      return sv("rect", {x: x - 1.5, y: y - 6, width: 3, height: 12, "class": cls}, title);
    }
  }

  function Timeline(root) {
    this.root = root;
    this.url = root.getAttribute("data-events");
    this.events = [];
    this.seen = {};
    this.maxSeq = 0;
    this.holder = null;
    this.dropped = 0;
    this.pending = false;
    root.classList.add("wb-ready");
    this.holderLine = el("p", {"class": "wb-holder", role: "status"}, "Loading…");
    this.state = el("span", {"class": "wb-state"}, "connecting");
    var top = el("div", {"class": "wb-top"});
    top.appendChild(this.holderLine);
    top.appendChild(this.rangeButtons());
    top.appendChild(this.state);
    this.chart = el("div", {"class": "wb-chart"});
    this.legend = legend();
    this.table = el("table", {"class": "wb-events"});
    var head = el("tr");
    ["#", "Time (UTC)", "Style", "Event", "Who", "Details"].forEach(function (h) {
      head.appendChild(el("th", {}, h));
    });
    var thead = el("thead");
    thead.appendChild(head);
    this.table.appendChild(thead);
    this.tbody = el("tbody");
    this.table.appendChild(this.tbody);
    this.empty = el("p", {"class": "wb-empty"}, "No events yet: open the document in either style.");
    var list = el("div", {"class": "wb-list"});
    list.appendChild(this.table);
    list.appendChild(this.empty);
    [top, this.chart, this.legend, list].forEach(function (n) { root.appendChild(n); });
  }

  // RANGES are the stretches of time the drawing can show; a file edited over days would
  // otherwise draw its last minutes as one cluster.
  var RANGES = [["all", 0], ["1 day", 864e5], ["1 hour", 36e5], ["15 min", 9e5]];

  Timeline.prototype.rangeButtons = function () {
    var self = this, box = el("div", {"class": "wb-range", role: "group", "aria-label": "time shown"});
    this.range = 0;
    RANGES.forEach(function (r) {
      var b = el("button", {type: "button", "data-range": String(r[1]), "class": r[1] === 0 ? "wb-on" : ""}, r[0]);
      b.addEventListener("click", function () {
        self.range = r[1];
        var all = box.querySelectorAll("button");
        for (var i = 0; i < all.length; i++) {
          all[i].classList.toggle("wb-on", all[i] === b);
        }
        self.schedule();
      });
      box.appendChild(b);
    });
    return box;
  };

  Timeline.prototype.status = function (state, text) {
    this.root.setAttribute("data-state", state);
    this.state.className = "wb-state wb-" + state;
    this.state.textContent = text;
  };

  Timeline.prototype.withParam = function (k, v) {
    return this.url + (this.url.indexOf("?") < 0 ? "?" : "&") + k + "=" + encodeURIComponent(v);
  };

  Timeline.prototype.start = function () {
    var self = this;
    fetch(this.withParam("limit", 1000), {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (body) {
          if (!resp.ok) {
            throw new Error(body.error || ("the events API answered " + resp.status));
          }
          return body;
        });
      })
      .then(function (body) {
        self.dropped = body.dropped || 0;
        self.setHolder(body.holder || null);
        (body.events || []).forEach(function (e) { self.add(e); });
        self.render();
        self.listen();
      })
      .catch(function (err) {
        self.holderLine.textContent = "The timeline could not be loaded: " + err.message;
        self.status("error", "not loaded");
      });
    window.addEventListener("resize", function () { self.schedule(); });
    window.addEventListener("pagehide", function () {
      if (self.source) {
        self.source.close();
      }
    });
    // Open spans run up to now.
    setInterval(function () {
      if (self.hasOpen) {
        self.schedule();
      }
    }, 5000);
  };

  Timeline.prototype.listen = function () {
    var self = this;
    var es = new EventSource(this.withParam("since", this.maxSeq));
    this.source = es;
    es.onopen = function () {
      self.status("live", "live");
    };
    es.addEventListener("holder", function (m) {
      try {
        self.setHolder(JSON.parse(m.data));
        self.schedule();
      } catch (err) { /* a malformed message changes nothing */ }
    });
    es.addEventListener("timeline", function (m) {
      try {
        self.add(JSON.parse(m.data));
        self.schedule();
      } catch (err) { /* idem */ }
    });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an error answer): start again from what was shown.
        self.status("error", "live updates stopped; retrying");
        setTimeout(function () {
          if (self.source === es) {
            self.listen();
          }
        }, 5000);
      } else {
        self.status("reconnecting", "reconnecting…");
      }
    };
  };

  Timeline.prototype.add = function (e) {
    if (!e || typeof e.seq !== "number" || this.seen[e.seq]) {
      return;
    }
    e.t = new Date(e.time).getTime();
    this.seen[e.seq] = e;
    this.events.push(e);
    if (e.seq > this.maxSeq) {
      this.maxSeq = e.seq;
    }
  };

  Timeline.prototype.setHolder = function (h) {
    h = h && h.style ? h : null;
    if (h) {
      this.free = null;
    } else if (!this.free || this.holder) {
      this.free = {at: Date.now(), live: !!this.holder};
    }
    this.holder = h;
    var line = this.holderLine;
    line.textContent = "";
    if (!this.holder) {
      line.appendChild(el("strong", {"class": "wb-free"}, "Free"));
      line.appendChild(document.createTextNode(": nobody holds the file; the next editor opens it for editing."));
      this.root.setAttribute("data-holder", "");
      return;
    }
    line.appendChild(document.createTextNode("Held by "));
    line.appendChild(el("strong", {"class": "wb-who"}, who(this.holder.user) || "an editor"));
    var parts = [STYLE_LABEL[this.holder.style] || this.holder.style];
    if (this.holder.session) {
      parts.push("session " + short(this.holder.session));
    }
    line.appendChild(document.createTextNode(" (" + parts.join(", ") + ")"));
    if (this.holder.since) {
      line.appendChild(document.createTextNode(" since " + when(new Date(this.holder.since))));
    }
    line.appendChild(document.createTextNode(": other editors open it read-only."));
    this.root.setAttribute("data-holder", this.holder.style + ":" + (this.holder.user || ""));
  };

  Timeline.prototype.schedule = function () {
    var self = this;
    if (this.pending) {
      return;
    }
    this.pending = true;
    setTimeout(function () {
      self.pending = false;
      self.render();
    }, 0);
  };

  Timeline.prototype.render = function () {
    this.events.sort(function (a, b) { return a.seq - b.seq; });
    this.root.setAttribute("data-count", String(this.events.length));
    this.renderChart();
    this.renderTable();
  };

  Timeline.prototype.renderChart = function () {
    var self = this, now = Date.now(), events = this.events;
    var width = Math.max(480, this.chart.clientWidth || 960);
    var lanes = LANES.map(function (l) {
      var list = spans(events, l.style, self.holder, now, self.free);
      return {style: l.style, label: l.label, spans: list, rows: rowsOf(list)};
    });
    this.hasOpen = lanes.some(function (l) { return l.spans.some(function (s) { return s.end === null; }); });
    var t0 = Infinity, t1 = -Infinity;
    events.forEach(function (e) {
      t0 = Math.min(t0, e.t - (e.kind === "save" && e.duration_ms ? e.duration_ms : 0));
      t1 = Math.max(t1, e.t);
    });
    lanes.forEach(function (l) {
      l.spans.forEach(function (s) {
        t0 = Math.min(t0, s.start);
      });
    });
    // A chosen range shows its last stretch only: up to now while a lock is held, else up
    // to the last event.
    var shown = events;
    if (this.range && isFinite(t1)) {
      var from = (this.hasOpen ? Math.max(t1, now) : t1) - this.range;
      t0 = Math.max(t0, from);
      shown = events.filter(function (e) { return e.t >= from; });
      lanes.forEach(function (l) {
        l.spans = l.spans.filter(function (sp) { return sp.end === null || sp.end >= from; });
      });
    }
    this.root.setAttribute("data-shown", String(shown.length));
    if (!isFinite(t0)) {
      t0 = now - 60000;
      t1 = now;
    }
    // Open spans run up to now, unless now is so far past the last event that the events
    // would shrink to a corner: then they run off the right edge.
    var axisToNow = this.hasOpen && now - t1 <= Math.max((t1 - t0) * 0.5, 60000);
    if (axisToNow) {
      t1 = Math.max(t1, now);
    }
    var span = Math.max(t1 - t0, 10000);
    t0 -= span * 0.03;
    t1 = t0 + span * 1.06;
    var edge = t1;
    var plotW = width - LABEL_W - 12;
    function x(t) {
      return LABEL_W + (t - t0) / (t1 - t0) * plotW;
    }
    // Events closer than a mark's width go on the next line of their lane's points.
    var level = {};
    lanes.forEach(function (l) {
      var lastX = [];
      l.levels = 1;
      shown.forEach(function (e) {
        if (e.style !== l.style || e.kind === "save") {
          return;
        }
        var ex = x(e.t), i = 0;
        while (i < lastX.length && lastX[i] > ex - 14) {
          i++;
        }
        lastX[i] = ex;
        level[e.seq] = i;
        l.levels = Math.max(l.levels, i + 1);
      });
    });
    var z = this.root.classList.contains("wb-compact") ? COMPACT : SIZES;
    var y = 4, laneYs = {};
    lanes.forEach(function (l) {
      l.y = y;
      l.barsY = y + z.top;
      l.saveY = l.barsY + l.rows * z.row + z.gap;
      l.pointY = l.saveY + z.save + z.gap;
      l.h = l.pointY + z.point * l.levels + z.bottom - y;
      y += l.h;
      laneYs[l.style] = l;
    });
    var height = y + AXIS_H;
    var s = sv("svg", {"class": "wb-svg", width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-label": "Timeline of " + shown.length + " events"});

    lanes.forEach(function (l, i) {
      s.appendChild(sv("rect", {x: 0, y: l.y, width: width, height: l.h, "class": "wb-lane" + (i % 2 ? " wb-odd" : "")}));
      var name = sv("text", {x: 10, y: l.y + l.h / 2 + 5, "class": "wb-lane-label"});
      name.textContent = l.label;
      s.appendChild(name);
    });
    // Time axis and grid.
    var step = TICKS[TICKS.length - 1];
    for (var i = 0; i < TICKS.length; i++) {
      if ((t1 - t0) / 1000 / TICKS[i] <= plotW / 95) {
        step = TICKS[i];
        break;
      }
    }
    var first = Math.ceil(t0 / 1000 / step) * step * 1000;
    for (var t = first; t <= t1; t += step * 1000) {
      var gx = x(t);
      if (gx > width - 30) {
        break; // its label would be cut
      }
      s.appendChild(sv("line", {x1: gx, x2: gx, y1: 0, y2: y, "class": "wb-grid"}));
      var label = sv("text", {x: gx, y: y + 15, "class": "wb-tick"});
      label.textContent = clock(new Date(t));
      s.appendChild(label);
    }
    if (axisToNow) {
      var nx = x(now);
      s.appendChild(sv("line", {x1: nx, x2: nx, y1: 0, y2: y, "class": "wb-now"}, "now"));
    }

    lanes.forEach(function (l) {
      l.spans.forEach(function (sp) {
        var x0 = x(Math.max(sp.start, t0)), x1 = x(sp.end === null ? Math.min(Math.max(now, sp.start), edge) : sp.end);
        var users = Object.keys(sp.users).map(function (u) { return sp.users[u]; }).join(", ");
        var title = "Lock held" + (users ? " by " + users : "") + (sp.session ? ", session " + sp.session : "") +
          "\nfrom " + clock(new Date(sp.start), true) + (sp.end === null ? ", still held" : " to " + clock(new Date(sp.end), true) + " (" + duration(sp.end - sp.start) + ")");
        var g = sv("g", {"class": "wb-span" + (sp.end === null ? " wb-open" : ""), "data-style": l.style, "data-session": sp.session}, title);
        var by = l.barsY + sp.row * z.row;
        g.appendChild(sv("rect", {x: x0, y: by, width: Math.max(3, x1 - x0), height: z.row - 5, rx: 3}));
        if (x1 - x0 > 40) {
          var txt = sv("text", {x: x0 + 5, y: by + z.row - 9, "class": "wb-span-label"});
          txt.textContent = (users || "lock") + (sp.session ? " · " + short(sp.session) : "");
          g.appendChild(txt);
          var clip = "wb-clip-" + l.style + "-" + sp.row + "-" + Math.round(x0);
          var cp = sv("clipPath", {id: clip});
          cp.appendChild(sv("rect", {x: x0, y: by, width: Math.max(3, x1 - x0 - 4), height: z.row}));
          g.appendChild(cp);
          txt.setAttribute("clip-path", "url(#" + clip + ")");
        }
        s.appendChild(g);
      });
    });

    shown.forEach(function (e) {
      var l = laneYs[e.style];
      if (!l) {
        return;
      }
      var d = describe(e);
      var cls = "wb-mark wb-" + e.kind.replace(/_/g, "-") + (d.bad ? " wb-bad" : "") + (d.warn ? " wb-warn" : "");
      var node;
      if (e.kind === "save") {
        var xe = x(e.t), xs = x(e.t - (e.duration_ms || 0));
        var w = Math.max(5, xe - xs);
        node = sv("rect", {x: xe - w, y: l.saveY, width: w, height: z.save, rx: 2, "class": cls + " wb-outcome-" + (e.outcome || "none")}, tooltip(e, d));
      } else {
        node = shape(e.kind, e.mode, x(e.t), l.pointY + z.point * (level[e.seq] || 0) + z.point / 2, cls, tooltip(e, d));
      }
      node.setAttribute("data-seq", String(e.seq));
      node.addEventListener("click", function () { self.highlight(e.seq); });
      s.appendChild(node);
    });
    this.chart.textContent = "";
    this.chart.appendChild(s);
  };

  Timeline.prototype.renderTable = function () {
    var self = this;
    this.tbody.textContent = "";
    this.empty.hidden = this.events.length > 0;
    this.table.hidden = this.events.length === 0;
    for (var i = this.events.length - 1; i >= 0; i--) {
      var e = this.events[i], d = describe(e);
      var tr = el("tr", {"data-seq": String(e.seq), "class": "wb-row wb-" + e.kind.replace(/_/g, "-") + (d.bad ? " wb-bad" : "") + (d.warn ? " wb-warn" : "")});
      tr.appendChild(el("td", {"class": "wb-num"}, String(e.seq)));
      tr.appendChild(el("td", {"class": "wb-num", title: e.time}, clock(new Date(e.t), true)));
      tr.appendChild(el("td", {"class": "wb-style"}, STYLE_LABEL[e.style] || e.style));
      tr.appendChild(el("td", {"class": "wb-what"}, d.what));
      tr.appendChild(el("td", {}, who(e.user, e.user_name)));
      var ids = [];
      if (e.request_id) {
        ids.push("request " + e.request_id);
      }
      if (e.correlation_id) {
        ids.push("DS " + e.correlation_id);
      }
      var td = el("td", {"class": "wb-details"}, d.details);
      if (ids.length) {
        td.appendChild(el("small", {}, (d.details ? " · " : "") + ids.join(" · ")));
      }
      tr.appendChild(td);
      this.tbody.appendChild(tr);
    }
    if (this.dropped) {
      var note = el("tr", {"class": "wb-dropped"});
      note.appendChild(el("td", {colspan: "6"}, this.dropped + " events of this file were dropped: the event log was full or unavailable."));
      this.tbody.appendChild(note);
    }
    if (this.highlighted) {
      self.mark(this.highlighted);
    }
  };

  Timeline.prototype.highlight = function (seq) {
    this.highlighted = seq;
    var row = this.mark(seq);
    if (row) {
      row.scrollIntoView({block: "nearest"});
    }
  };

  Timeline.prototype.mark = function (seq) {
    var rows = this.tbody.querySelectorAll("tr.wb-picked");
    for (var i = 0; i < rows.length; i++) {
      rows[i].classList.remove("wb-picked");
    }
    var row = this.tbody.querySelector('tr[data-seq="' + seq + '"]');
    if (row) {
      row.classList.add("wb-picked");
    }
    return row;
  };

  function legend() {
    var box = el("div", {"class": "wb-legend"});
    function item(label, draw) {
      var s = sv("svg", {width: 22, height: 16, viewBox: "0 0 22 16", "aria-hidden": "true"});
      s.appendChild(draw());
      var span = el("span", {"class": "wb-key"});
      span.appendChild(s);
      span.appendChild(document.createTextNode(label));
      box.appendChild(span);
    }
    item("lock held", function () {
      var g = sv("g", {"class": "wb-span"});
      g.appendChild(sv("rect", {x: 1, y: 3, width: 20, height: 10, rx: 2}));
      return g;
    });
    item("save (width: time to storage)", function () { return sv("rect", {x: 3, y: 2, width: 16, height: 12, rx: 2, "class": "wb-mark wb-save wb-outcome-saved"}); });
    item("spooled", function () { return sv("rect", {x: 3, y: 2, width: 16, height: 12, rx: 2, "class": "wb-mark wb-save wb-outcome-spooled"}); });
    item("replayed", function () { return sv("rect", {x: 3, y: 2, width: 16, height: 12, rx: 2, "class": "wb-mark wb-save wb-outcome-replayed"}); });
    item("repeated", function () { return sv("rect", {x: 3, y: 2, width: 16, height: 12, rx: 2, "class": "wb-mark wb-save wb-outcome-repeated"}); });
    item("opened", function () { return shape("opened", "edit", 11, 8, "wb-mark wb-opened"); });
    item("opened read-only", function () { return shape("opened", "view", 11, 8, "wb-mark wb-opened"); });
    item("joined", function () { return shape("joined", "", 11, 8, "wb-mark wb-joined"); });
    item("left", function () { return shape("left", "", 11, 8, "wb-mark wb-left"); });
    item("lock call", function () { return shape("lock", "", 11, 8, "wb-mark wb-lock"); });
    item("forcesave", function () { return shape("forcesave", "", 11, 8, "wb-mark wb-forcesave"); });
    item("session ended", function () { return shape("ended", "", 11, 8, "wb-mark wb-ended"); });
    item("conflict, refusal (red)", function () { return shape("refused", "", 11, 8, "wb-mark wb-refused wb-bad"); });
    return box;
  }

  var roots = document.querySelectorAll(".wb-timeline[data-events]");
  for (var i = 0; i < roots.length; i++) {
    var t = new Timeline(roots[i]);
    roots[i].wbTimeline = t;
    t.start();
  }
})();

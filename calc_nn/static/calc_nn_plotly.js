/* Draws the book's plotly figures from the site's own plotly.min.js.
 *
 * calc_nn/sphinxext.py writes, for each figure, a <figure class=
 * "calc-nn-block"> with the plotly div (role="img", described by the
 * figure's text alternative), and for an explorer (calc_nn.widgets.explore)
 * real HTML controls and a live region. This file:
 *
 * - draws the figure, responsive to its container's width;
 * - applies the figure's narrow layout (layout.meta.narrow: relayout and
 *   per-trace restyle updates) while the container is narrower than
 *   data-narrow-px, and takes it back when it is wider again;
 * - binds the controls to the precomputed states in layout.meta.calc_nn
 *   (each combination of positions is a [restyle, relayout] pair whose
 *   values are indices into a pool of distinct values; a state may carry
 *   its own "meta.description" and "meta.narrow");
 * - updates the figure's accessible name and description with its state,
 *   and announces "<control> <value>: <description>" in the live region;
 * - follows the theme's dark mode. */
window.calcNN = window.calcNN || {};

calcNN.clone = function (v) {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
};

/* "annotations[0].font.size" -> ["annotations", 0, "font", "size"] */
calcNN.path = function (key) {
  return key.split(/\.|\[(\d+)\]/).filter(function (p) {
    return p !== undefined && p !== "";
  }).map(function (p) { return /^\d+$/.test(p) ? Number(p) : p; });
};
calcNN.getIn = function (obj, parts) {
  return parts.reduce(function (o, p) {
    return o == null ? undefined : o[p];
  }, obj);
};
calcNN.setIn = function (obj, parts, value) {
  var o = obj;
  parts.slice(0, -1).forEach(function (p, i) {
    if (o[p] == null || typeof o[p] !== "object") {
      o[p] = typeof parts[i + 1] === "number" ? [] : {};
    }
    o = o[p];
  });
  o[parts[parts.length - 1]] = value;
};
/* A plotly typed array ({dtype, bdata}) as a plain array: restyle does not
 * decode that form. */
calcNN.plain = function (v) {
  if (!v || typeof v !== "object" || !("bdata" in v)) { return v; }
  var bin = atob(v.bdata), bytes = new Uint8Array(bin.length);
  for (var k = 0; k < bin.length; k++) { bytes[k] = bin.charCodeAt(k); }
  var T = {f8: Float64Array, f4: Float32Array, i1: Int8Array,
           u1: Uint8Array, i2: Int16Array, u2: Uint16Array,
           i4: Int32Array, u4: Uint32Array}[v.dtype];
  var arr = Array.from(new T(bytes.buffer));
  if (v.shape) {  // "rows, cols": a 2-D array (heatmap z)
    var cols = Number(String(v.shape).split(",")[1]);
    var rows = [];
    for (var r = 0; r < arr.length; r += cols) {
      rows.push(arr.slice(r, r + cols));
    }
    return rows;
  }
  return arr;
};

calcNN.render = function (id, fig) {
  var gd = document.getElementById(id);
  var block = gd.closest(".calc-nn-block") || gd.parentNode;
  var meta = (fig.layout && fig.layout.meta) || {};
  var s = gd._calcNN = {
    fig: fig,                   // as built: the default state, wide
    block: block,
    narrowPx: Number(block.getAttribute("data-narrow-px")) || 600,
    explorer: meta.calc_nn || null,
    state: null,                // the current [restyle, relayout], if moved
    description: meta.description || "",
    narrowPatch: meta.narrow || null,
    narrow: false
  };
  // plotly keeps (and changes) the objects it is given: give it copies,
  // without the states, free to take the container's width
  var layout = Object.assign({}, fig.layout);
  layout.meta = meta.description ? {description: meta.description} : {};
  layout = calcNN.clone(layout);
  delete layout.width;
  layout.autosize = true;
  var data = calcNN.clone(fig.data);
  s.narrow = calcNN.isNarrow(gd);
  if (s.narrow && s.narrowPatch) {
    var p = s.narrowPatch;
    Object.keys(p.layout || {}).forEach(function (k) {
      calcNN.setIn(layout, calcNN.path(k), calcNN.clone(p.layout[k]));
    });
    Object.keys(p.traces || {}).forEach(function (i) {
      Object.keys(p.traces[i]).forEach(function (k) {
        if (data[i]) {
          calcNN.setIn(data[i], calcNN.path(k),
                       calcNN.clone(p.traces[i][k]));
        }
      });
    });
  }
  return Plotly.newPlot(gd, data, layout, fig.config || {})
    .then(calcNN.fitHeight)
    .then(calcNN.describe)
    .then(calcNN.bind)
    .then(calcNN.follow)
    .then(calcNN.theme);
};

calcNN.isNarrow = function (gd) {
  var s = gd._calcNN;
  return (s.block.clientWidth || gd.clientWidth) < s.narrowPx;
};

/* The div keeps the height plotly draws (a narrow layout may be taller). */
calcNN.fitHeight = function (gd) {
  var h = gd._fullLayout && gd._fullLayout.height;
  if (h && gd.style.height !== h + "px") { gd.style.height = h + "px"; }
  return gd;
};

/* ------------------------------------------------------- narrow layout */

/* The value a key has in the current state at full width: the state's
 * patch if it sets the key (or a container of it), else the figure's. */
calcNN.wideLayout = function (s, key) {
  var rel = s.state ? s.state[1] : {}, parts = calcNN.path(key);
  for (var n = parts.length; n > 0; n--) {
    var prefix = parts.slice(0, n);
    var name = Object.keys(rel).find(function (k) {
      return JSON.stringify(calcNN.path(k)) === JSON.stringify(prefix);
    });
    if (name !== undefined) {
      var v = calcNN.getIn(rel[name], parts.slice(n));
      return v === undefined ? null : calcNN.clone(v);
    }
  }
  var base = calcNN.getIn(s.fig.layout, parts);
  return base === undefined ? null : calcNN.clone(base);
};
calcNN.wideTrace = function (s, i, key) {
  var res = s.state ? s.state[0] : {};
  if (key in res) { return calcNN.clone(res[key][i]); }
  var v = calcNN.getIn(s.fig.data[i], calcNN.path(key));
  return v === undefined ? null : calcNN.plain(calcNN.clone(v));
};

/* Put ``value`` for relayout ``key`` into the relayout object ``rel``:
 * inside a container the object already replaces ("annotations"), else
 * under its own key. */
calcNN.putLayout = function (rel, key, value) {
  var parts = calcNN.path(key);
  for (var n = parts.length - 1; n > 0; n--) {
    var prefix = JSON.stringify(parts.slice(0, n));
    var name = Object.keys(rel).find(function (k) {
      return JSON.stringify(calcNN.path(k)) === prefix;
    });
    if (name !== undefined && rel[name] && typeof rel[name] === "object") {
      rel[name] = calcNN.clone(rel[name]);
      calcNN.setIn(rel[name], parts.slice(n), value);
      return;
    }
  }
  rel[key] = value;
};
calcNN.putTrace = function (res, n, i, key, value) {
  if (!(key in res)) { res[key] = new Array(n).fill(undefined); }
  else { res[key] = res[key].slice(); }
  res[key][Number(i)] = value;
};

/* Add to [restyle, relayout] the narrow patch ``patch`` (on) or the wide
 * values of its keys (off). */
calcNN.withNarrow = function (gd, res, rel, patch, on) {
  var s = gd._calcNN, n = gd.data.length;
  if (!patch) { return; }
  Object.keys(patch.layout || {}).forEach(function (k) {
    calcNN.putLayout(rel, k, on ? calcNN.clone(patch.layout[k])
                                : calcNN.wideLayout(s, k));
  });
  Object.keys(patch.traces || {}).forEach(function (i) {
    if (Number(i) >= n) { return; }
    Object.keys(patch.traces[i]).forEach(function (k) {
      calcNN.putTrace(res, n, i, k, on ? calcNN.clone(patch.traces[i][k])
                                       : calcNN.wideTrace(s, i, k));
    });
  });
};

calcNN.setNarrow = function (gd, on) {
  var s = gd._calcNN, res = {}, rel = {};
  s.narrow = on;
  calcNN.withNarrow(gd, res, rel, s.narrowPatch, on);
  if (!Object.keys(res).length && !Object.keys(rel).length) {
    return Promise.resolve(gd);
  }
  return Plotly.update(gd, res, rel).then(calcNN.fitHeight);
};

/* The theme moves its sidebars after the figure is drawn, and plotly's
 * "responsive" only listens to the window: follow the container, and
 * switch between the narrow and the wide layout. */
calcNN.follow = function (gd) {
  var s = gd._calcNN;
  var resize = function () {
    var narrow = calcNN.isNarrow(gd);
    var done = narrow !== s.narrow ? calcNN.queue(gd, function () {
      return calcNN.setNarrow(gd, narrow);
    }) : Promise.resolve(gd);
    return done.then(function () {
      Plotly.Plots.resize(gd);
      return gd;
    });
  };
  if (window.ResizeObserver) {
    var width = s.block.clientWidth;
    new ResizeObserver(function () {
      if (s.block.clientWidth !== width) {
        width = s.block.clientWidth;
        resize();
      }
    }).observe(s.block);
  } else {
    window.addEventListener("resize", resize);
  }
  window.addEventListener("orientationchange", resize);
  return gd;
};

/* One plotly update at a time, in order: a held-down arrow key must not
 * interleave two states. */
calcNN.queue = function (gd, job) {
  var s = gd._calcNN;
  s.busy = (s.busy || Promise.resolve()).then(job, job);
  return s.busy;
};

/* ------------------------------------------------------------ controls */

calcNN.positions = function (gd) {
  var s = gd._calcNN;
  return s.explorer.controls.map(function (c, k) {
    var els = s.block.querySelectorAll('[data-calc-nn-control="' + k +
                                       '"]');
    var pos = c.active;
    els.forEach(function (el) {
      if (el.type === "range" || el.checked) { pos = Number(el.value); }
    });
    return pos;
  });
};

/* The [restyle, relayout] of state ``key``: its entries point into the
 * explorer's pool of values (a value many states share is stored once). */
calcNN.state = function (explorer, key) {
  var refs = explorer.states[key], pool = explorer.values;
  if (!refs) { return null; }
  var res = {}, rel = {};
  Object.keys(refs[0]).forEach(function (k) {
    res[k] = refs[0][k].map(function (i) { return pool[i]; });
  });
  Object.keys(refs[1]).forEach(function (k) { rel[k] = pool[refs[1][k]]; });
  return [res, rel];
};

/* Show the state of the controls' positions: its traces and layout, its
 * narrow patch if narrow, its description and the figure's name. */
calcNN.show = function (gd, key) {
  var s = gd._calcNN, state = calcNN.state(s.explorer, key);
  if (!state) { return Promise.resolve(gd); }
  return calcNN.queue(gd, function () {
    var res = Object.assign({}, state[0]), rel = Object.assign({}, state[1]);
    var oldPatch = s.narrowPatch;
    s.state = state;
    if ("meta.description" in rel) {
      s.description = rel["meta.description"] || "";
    }
    if ("meta.narrow" in rel) { s.narrowPatch = rel["meta.narrow"]; }
    delete rel["meta.description"];
    delete rel["meta.narrow"];
    if (s.narrow) {
      if (oldPatch && oldPatch !== s.narrowPatch) {  // undo what is gone
        calcNN.withNarrow(gd, res, rel, oldPatch, false);
      }
      calcNN.withNarrow(gd, res, rel, s.narrowPatch, true);
    }
    return Plotly.update(gd, res, rel).then(calcNN.fitHeight)
      .then(calcNN.describe);
  });
};

/* The <figure>'s accessible name (the plot's title) and description (the
 * text of the element its aria-describedby names) for the current state.
 * The plot's SVG is hidden from assistive technology: the description is
 * its text alternative (plotly's mode bar buttons stay reachable). */
calcNN.describe = function (gd) {
  var s = gd._calcNN, block = s.block;
  var title = gd.layout.title && (gd.layout.title.text || gd.layout.title);
  var tmp = document.createElement("div");
  tmp.innerHTML = typeof title === "string" ? title.replace(/<br\s*\/?>/gi,
                                                            " ") : "";
  var plain = tmp.textContent.replace(/\s+/g, " ").trim();
  block.setAttribute("aria-label", plain ? "Figure: " + plain : "Figure");
  var desc = document.getElementById(block.getAttribute("aria-describedby"));
  if (desc && desc.textContent !== s.description) {
    desc.textContent = s.description;
  }
  gd.querySelectorAll("svg.main-svg").forEach(function (svg) {
    svg.setAttribute("aria-hidden", "true");
  });
  return gd;
};

calcNN.bind = function (gd) {
  var s = gd._calcNN;
  if (!s.explorer) { return gd; }
  var status = s.block.querySelector(".calc-nn-status");
  s.block.querySelectorAll("[data-calc-nn-control]").forEach(function (el) {
    var k = Number(el.getAttribute("data-calc-nn-control"));
    var control = s.explorer.controls[k];
    var onChange = function () {
      var pos = calcNN.positions(gd)[k], label = control.labels[pos];
      if (el.type === "range") {
        el.setAttribute("aria-valuetext", label);
        var shown = el.parentNode.querySelector(".calc-nn-value");
        if (shown) { shown.textContent = label; }
      }
      calcNN.show(gd, calcNN.positions(gd).join(",")).then(function () {
        if (status) {
          status.textContent = control.label + " " + label +
            (s.description ? ": " + s.description : "");
        }
      });
    };
    el.addEventListener(el.type === "range" ? "input" : "change", onChange);
  });
  return gd;
};

/* ------------------------------------------------------------ dark mode */

/* The theme sets <html data-theme="dark">. The figures are drawn with
 * light colours (plotly_white); switch the background, text and grid
 * colours with the page, and back, remembering the figure's own. */
calcNN.DARK = {bg: "#121212", text: "#ced6dd", grid: "#2c333b"};
calcNN.isDark = function () {
  return document.documentElement.dataset.theme === "dark";
};
calcNN.colours = function (gd, dark) {
  var keys = ["paper_bgcolor", "plot_bgcolor", "font.color"];
  Object.keys(gd._fullLayout).forEach(function (k) {
    if (/^[xy]axis[0-9]*$/.test(k)) {
      keys.push(k + ".gridcolor", k + ".zerolinecolor", k + ".linecolor");
    }
  });
  if (!gd._calcNNLight) {  // the figure's own values (null: default)
    gd._calcNNLight = {};
    keys.forEach(function (k) {
      var v = calcNN.getIn(gd.layout, calcNN.path(k));
      gd._calcNNLight[k] = v === undefined ? null : v;
    });
  }
  var update = {};
  keys.forEach(function (k) {
    var d = calcNN.DARK;
    update[k] = !dark ? gd._calcNNLight[k]
      : /bgcolor$/.test(k) ? d.bg : /^font/.test(k) ? d.text : d.grid;
  });
  return update;
};
calcNN.theme = function (gd) {
  var apply = function () {
    var dark = calcNN.isDark();
    if (gd._calcNNDark === dark) { return; }
    gd._calcNNDark = dark;
    calcNN.queue(gd, function () {
      return Plotly.relayout(gd, calcNN.colours(gd, dark));
    });
  };
  if (calcNN.isDark()) { apply(); } else { gd._calcNNDark = false; }
  new MutationObserver(apply).observe(document.documentElement,
                                      {attributes: true,
                                       attributeFilter: ["data-theme"]});
  return gd;
};

/* Draws the book's plotly figures from the site's own plotly.min.js, and
 * links several static controls (sliders, buttons) of one figure: each
 * combination of their positions is a precomputed state stored in
 * layout.meta.calc_nn (see calc_nn/widgets.py). A figure with a single
 * control needs none of this: its slider steps carry their own updates. */
window.calcNN = window.calcNN || {};

calcNN.render = function (id, fig) {
  var gd = document.getElementById(id);
  return Plotly.newPlot(gd, fig.data, fig.layout, fig.config || {})
    .then(calcNN.link)
    .then(calcNN.follow)
    .then(calcNN.theme);
};

/* Dark mode: the theme sets <html data-theme="dark">. The figures are drawn
 * with light colours (plotly_white); switch the background, text, grid and
 * control colours with the page, and back, remembering the figure's own. */
calcNN.DARK = {bg: "#121212", text: "#ced6dd", grid: "#2c333b",
               controls: "#2c333b", active: "#3d6fa3",
               // plotly.js draws the active button in a fixed near-white:
               // buttons stay light with dark text to stay readable
               buttons: "#c9d1d9", buttonText: "#1f2328"};
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
  (gd.layout.sliders || []).forEach(function (_, i) {
    keys.push("sliders[" + i + "].bgcolor", "sliders[" + i + "].font.color",
              "sliders[" + i + "].activebgcolor");
  });
  (gd.layout.updatemenus || []).forEach(function (_, i) {
    keys.push("updatemenus[" + i + "].bgcolor",
              "updatemenus[" + i + "].font.color");
  });
  if (!gd._calcNNLight) {  // the figure's own values (undefined: default)
    gd._calcNNLight = {};
    keys.forEach(function (k) {
      var v = k.split(/[.\[\]]+/).filter(Boolean).reduce(function (o, p) {
        return o == null ? undefined : o[p];
      }, gd.layout);
      gd._calcNNLight[k] = v === undefined ? null : v;
    });
  }
  var update = {};
  keys.forEach(function (k) {
    if (!dark) { update[k] = gd._calcNNLight[k]; return; }
    var d = calcNN.DARK;
    update[k] = /^updatemenus/.test(k)
      ? (/bgcolor$/.test(k) ? d.buttons : d.buttonText)
      : /activebgcolor$/.test(k) ? d.active
      : /bgcolor$/.test(k) && /^(sliders|updatemenus)/.test(k)
      ? d.controls : /bgcolor$/.test(k) ? d.bg
      : /color$/.test(k) && /font/.test(k) ? d.text : d.grid;
  });
  return update;
};
calcNN.theme = function (gd) {
  var apply = function () {
    var dark = calcNN.isDark();
    if (gd._calcNNDark === dark) { return; }
    gd._calcNNDark = dark;
    Plotly.relayout(gd, calcNN.colours(gd, dark));
  };
  if (calcNN.isDark()) { apply(); } else { gd._calcNNDark = false; }
  new MutationObserver(apply).observe(document.documentElement,
                                      {attributes: true,
                                       attributeFilter: ["data-theme"]});
  return gd;
};

/* The theme moves its sidebars after the figure is drawn, and plotly's
 * "responsive" only listens to the window: follow the container instead. */
calcNN.follow = function (gd) {
  if (window.ResizeObserver) {
    var width = gd.clientWidth;
    new ResizeObserver(function () {
      if (gd.clientWidth !== width) {
        width = gd.clientWidth;
        Plotly.Plots.resize(gd);
      }
    }).observe(gd);
  }
  return gd;
};

calcNN.link = function (gd) {
  var meta = gd.layout.meta && gd.layout.meta.calc_nn;
  if (!meta) { return gd; }
  function apply() {
    var key = meta.controls.map(function (c) {
      var group = gd.layout[c[0]] || [];
      return (group[c[1]] && group[c[1]].active) || 0;
    }).join(",");
    var state = meta.states[key];
    if (state) { Plotly.update(gd, state[0], state[1]); }
  }
  // The control records its new position before or after the event fires
  // depending on the control; reading it on the next tick is safe for both.
  function later() { setTimeout(apply, 0); }
  gd.on("plotly_sliderchange", later);
  gd.on("plotly_buttonclicked", later);
  return gd;
};

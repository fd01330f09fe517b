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
    .then(calcNN.follow);
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

/* Display formulas that fit the column (calc_nn.sphinxext adds this file to
 * every page).
 *
 * MathJax 3 does not break long formulas into lines: one wider than the
 * text column is cut off, and the rest hides behind a scrollbar a reader
 * does not see (at 390 px, 26 formulas of five chapters were). The
 * chapters break their formulas for the desktop column; on a narrower
 * screen this script scales each display formula that is still too wide
 * down to the column's width, but not below MIN_SCALE of the text's size
 * (MathJax draws formulas at about 127% of it, to match the text's
 * x-height; a formula that still does not fit then scrolls, as before).
 * It runs once MathJax has typeset the page, and again when the width
 * changes.
 */
(function () {
  "use strict";
  var MIN_SCALE = 0.6;

  function fit() {
    var all = document.querySelectorAll('mjx-container[display="true"]');
    for (var i = 0; i < all.length; i++) {
      var m = all[i];
      // back to MathJax's own size (its font scaled to the text's x-height,
      // e.g. 127%, set on the element), then measure
      var own = m.getAttribute("data-calc-nn-size");
      if (own === null) {
        own = m.style.fontSize;
        m.setAttribute("data-calc-nn-size", own);
      }
      m.style.fontSize = own;
      var size = parseFloat(getComputedStyle(m).fontSize);
      var text = parseFloat(getComputedStyle(m.parentNode).fontSize);
      var floor = MIN_SCALE * text;
      // its own box (beside an equation number, narrower than the column);
      // a few rounds, since spacing and rules do not all scale with it
      for (var round = 0; round < 4; round++) {
        var room = m.clientWidth, need = m.scrollWidth;
        if (need <= room + 1 || room <= 0 || size <= floor) {
          break;
        }
        size = Math.max(floor, size * (room - 2) / need);
        m.style.fontSize = size.toFixed(2) + "px";
      }
    }
  }

  var width = null;
  function refit() {
    if (window.innerWidth !== width) {
      width = window.innerWidth;
      fit();
    }
  }

  function start() {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(function () {
        refit();
        window.addEventListener("resize", refit);
      });
    } else if (document.readyState !== "complete") {
      window.addEventListener("load", start, { once: true });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

/* poster.js: the station poster's one action, printing (no inline handlers under the CSP). */
(function () {
  "use strict";
  var button = document.getElementById("print");
  if (button) button.addEventListener("click", function () { window.print(); });
})();

/* Kefu staff pages: small progressive enhancements; every page works without it. */
(function () {
  "use strict";
  // A destructive button can ask for confirmation: <button data-confirm="...">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });
})();

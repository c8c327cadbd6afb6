/* Linkback manager: small conveniences. Every page works without this script. */
(function () {
  "use strict";

  // "Select all" checkbox of the linkbacks table.
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      var form = box.closest("form");
      form.querySelectorAll('input[type=checkbox][name=id]').forEach(function (row) {
        row.checked = box.checked;
      });
    });
  });

  // Confirmation before destructive buttons.
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });

  // Live preview of display options: re-render the block as the form changes.
  var form = document.querySelector("form[data-preview]");
  var box = document.getElementById("preview");
  if (form && box && window.fetch) {
    var timer = null;
    var update = function () {
      var data = new FormData(form);
      data.delete("csrf");
      var query = new URLSearchParams(data).toString();
      fetch(form.getAttribute("data-preview") + "?" + query, { credentials: "same-origin" })
        .then(function (response) {
          if (response.redirected || !response.ok && response.status !== 400) {
            throw new Error("no preview");
          }
          return response.text();
        })
        .then(function (html) { box.innerHTML = html; })
        .catch(function () {});
    };
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 250);
    });
    form.addEventListener("change", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 50);
    });
  }
})();

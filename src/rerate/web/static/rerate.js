/* rerate web console: the little behaviour htmx does not give us.
 * Dialogs (open, close, focus), the customer search box, the "Other" reason
 * explanation, the detail dialog behind Failed badges and "Other" reasons,
 * toasts, and the navigation menu. No inline scripts: the CSP forbids them. */
(function () {
  "use strict";

  var openerId = null;
  var opener = null;

  function openDialog(dialog) {
    if (!dialog || dialog.open) return;
    opener = document.activeElement;
    openerId = opener && opener.id ? opener.id : null;
    dialog.showModal(); // moves focus into the dialog (the autofocus field or the first one)
  }

  function closeDialog(dialog) {
    if (dialog && dialog.open) dialog.close();
  }

  function onDialogClose(event) {
    var dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement)) return;
    if (dialog.hasAttribute("data-autoopen")) dialog.remove(); // loaded fresh next time
    // the log may have been re-rendered meanwhile: find the opener again by its id
    var back = opener && document.body.contains(opener) ? opener
      : (openerId ? document.getElementById(openerId) : null);
    if (back) back.focus();
    opener = null;
    openerId = null;
  }

  // --- customer search: filter the options of a listbox ------------------------------------
  function filterSelect(input) {
    var select = document.getElementById(input.getAttribute("data-filter-select"));
    if (!select) return;
    var needle = input.value.trim().toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(select.options, function (option) {
      var match = !needle || option.text.toLowerCase().indexOf(needle) !== -1;
      option.hidden = !match;
      if (match) shown += 1;
    });
    select.setAttribute("aria-description", shown + " matching customers");
  }

  // --- reason "Other" reveals the explanation ------------------------------------------------
  function syncReason(select) {
    var form = select.form;
    if (!form) return;
    var field = form.querySelector("#op-explanation-field");
    if (!field) return;
    var other = select.value === "other";
    field.hidden = !other;
    var textarea = field.querySelector("textarea");
    if (textarea) {
      textarea.required = other && select.getAttribute("data-explanation-required") === "true";
    }
  }

  // --- detail dialog: error of a Failed job, explanation of "Other" --------------------------
  function showDetail(button) {
    var dialog = document.getElementById("detail-dialog");
    if (!dialog) return;
    document.getElementById("detail-title").textContent =
      button.getAttribute("data-detail-title") || "Details";
    document.getElementById("detail-body").textContent = button.getAttribute("data-detail") || "";
    openDialog(dialog);
  }

  // --- toasts --------------------------------------------------------------------------------
  var toastTimer = null;
  function toast(message, kind) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.className = "toast toast-show" + (kind === "error" ? " toast-error" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.className = "toast"; }, 6000);
  }

  // --- events --------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var closer = target.closest("[data-close-dialog]");
    if (closer) {
      closeDialog(closer.closest("dialog"));
      return;
    }
    var detail = target.closest("[data-detail]");
    if (detail) {
      showDetail(detail);
      return;
    }
    // a click on the backdrop of a modal dialog closes it
    if (target instanceof HTMLDialogElement && target.open) {
      var box = target.getBoundingClientRect();
      var inside = event.clientX >= box.left && event.clientX <= box.right &&
        event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) closeDialog(target);
    }
    // clicks outside an open navigation menu close it
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(target)) menu.open = false;
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target instanceof HTMLInputElement && target.hasAttribute("data-filter-select")) {
      filterSelect(target);
    }
  });

  document.addEventListener("keydown", function (event) {
    // in the search box: arrow down moves into the list of customers; Enter picks the only
    // match instead of submitting the form
    var target = event.target;
    if (!(target instanceof HTMLInputElement) || !target.hasAttribute("data-filter-select")) return;
    var select = document.getElementById(target.getAttribute("data-filter-select"));
    if (!(select instanceof HTMLSelectElement)) return;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      select.focus();
    } else if (event.key === "Enter") {
      event.preventDefault();
      var visible = Array.prototype.filter.call(select.options, function (o) { return !o.hidden; });
      if (visible.length === 1 && !visible[0].selected) {
        visible[0].selected = true;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
      select.focus();
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-reason-select")) {
      syncReason(target);
    }
    var form = target instanceof Element ? target.closest("form[data-autosubmit]") : null;
    if (form) form.requestSubmit();
  });

  document.addEventListener("close", onDialogClose, true);

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!(target instanceof Element)) return;
    var dialog = target.matches("dialog[data-autoopen]") ? target
      : target.querySelector("dialog[data-autoopen]");
    if (dialog) openDialog(dialog);
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!(elt instanceof Element)) return;
    // an inline error replaced the form: move focus to it so it is read out
    var alert = elt.matches("[data-focus-on-load]") ? elt : elt.querySelector("[data-focus-on-load]");
    if (alert) alert.focus();
    // the log carries a one-line summary; announce it only when it changes
    var log = elt.id === "job-log" ? elt : null;
    if (log) {
      var status = document.getElementById("log-status");
      var summary = log.getAttribute("data-summary") || "";
      if (status && status.textContent !== summary) status.textContent = summary;
    }
  });

  document.body.addEventListener("rerate:jobs-submitted", function (event) {
    var dialog = document.getElementById("op-dialog");
    closeDialog(dialog);
    var message = event.detail && event.detail.message;
    if (message) toast(message);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var status = xhr ? xhr.status : 0;
    var text = status === 403 ? "You are not allowed to do that."
      : status === 404 ? "Not found: it may have been removed, or you may not see it."
      : "Something went wrong (" + (status || "network") + "). Please try again.";
    toast(text, "error");
  });

  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached. Retrying shortly.", "error");
  });
})();

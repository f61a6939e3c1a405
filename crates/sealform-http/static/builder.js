// Sealform form builder: drag-and-drop reordering of the question list. Without this script the Move up / Move
// down buttons do the same one step at a time (and stay the keyboard way to reorder). On drop, the new order of
// question ids is posted with the page's hidden order form (which carries the CSRF token), and the server answers
// with the builder page again.
(function () {
  "use strict";
  var list = document.getElementById("questions");
  if (!list) return;
  var form = document.getElementById(list.getAttribute("data-order-form") || "");
  if (!form || !form.elements.order) return;
  var items = function () {
    return Array.prototype.filter.call(list.children, function (el) { return el.hasAttribute("data-qid"); });
  };
  var orderOf = function () {
    return items().map(function (el) { return el.getAttribute("data-qid"); }).join(",");
  };
  if (items().length < 2) return;
  var before = orderOf();
  var dragged = null;

  items().forEach(function (item) {
    item.setAttribute("draggable", "true");
    item.classList.add("draggable");
  });

  // Only start a drag from the question itself, never from a field being edited inside it.
  list.addEventListener("dragstart", function (event) {
    var item = event.target.closest ? event.target.closest("li[data-qid]") : null;
    if (!item || item.parentNode !== list || event.target !== item) return;
    dragged = item;
    item.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    try { event.dataTransfer.setData("text/plain", item.getAttribute("data-qid")); } catch (e) { /* old browsers */ }
  });

  list.addEventListener("dragover", function (event) {
    if (!dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    var target = event.target.closest ? event.target.closest("li[data-qid]") : null;
    if (!target || target === dragged || target.parentNode !== list) return;
    var box = target.getBoundingClientRect();
    var after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? target.nextSibling : target);
  });

  list.addEventListener("drop", function (event) {
    if (!dragged) return;
    event.preventDefault();
    finish();
  });

  list.addEventListener("dragend", function () {
    if (dragged) finish();
  });

  function finish() {
    dragged.classList.remove("dragging");
    dragged = null;
    var now = orderOf();
    if (now === before) return;
    before = now;
    list.classList.add("saving");
    form.elements.order.value = now;
    form.submit();
  }
})();

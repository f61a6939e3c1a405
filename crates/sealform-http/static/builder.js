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

  // Drags start from a question's handle only, so text in its edit fields stays selectable.
  items().forEach(function (item) {
    var handle = item.querySelector(".handle");
    if (!handle) return;
    handle.setAttribute("draggable", "true");
    item.classList.add("draggable");
  });

  list.addEventListener("dragstart", function (event) {
    var handle = event.target;
    if (!handle.classList || !handle.classList.contains("handle")) return;
    var item = handle.closest("li[data-qid]");
    if (!item || item.parentNode !== list) return;
    dragged = item;
    item.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    try {
      event.dataTransfer.setData("text/plain", item.getAttribute("data-qid"));
      event.dataTransfer.setDragImage(item, 16, 16);
    } catch (e) { /* older browsers: the default image */ }
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

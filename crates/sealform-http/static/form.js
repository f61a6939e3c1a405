// The fill page's progressive enhancement: conditional questions, page-by-page navigation and the signature pad.
// Without it the page works: every question and page shows at once and the server decides what counts.
(function () {
  'use strict';
  document.documentElement.classList.add('js');
  function ready(fn) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', fn); else fn();
  }
  ready(function () {
    var form = document.getElementById('fill');
    var summary = document.getElementById('error-summary');
    if (!form) { if (summary) summary.focus(); return; }

    // Conditional visibility, as the server computes it: a question is shown when its controlling question is
    // visible and its answer (or one of its chosen options) matches; `data-hide` reverses that.
    var conditional = Array.prototype.slice.call(form.querySelectorAll('[data-show-if]'));
    function answers(qid) {
      var field = document.getElementById('field-' + qid);
      if (!field || field.hidden) return [''];
      var values = [];
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name !== qid) return;
        if (el.type === 'radio' || el.type === 'checkbox') { if (el.checked) values.push(el.value); }
        else values.push(el.value);
      });
      return values.length ? values : [''];
    }
    function applyConditions() {
      conditional.forEach(function (field) {
        var wanted = field.getAttribute('data-equals').trim();
        var matches = answers(field.getAttribute('data-show-if')).some(function (v) { return v.trim() === wanted; });
        field.hidden = field.hasAttribute('data-hide') ? matches : !matches;
      });
    }
    if (conditional.length) {
      form.addEventListener('change', applyConditions);
      form.addEventListener('input', applyConditions);
      applyConditions();
    }

    // Pages: one at a time, with Back and Next; the submit button on the last.
    var pages = Array.prototype.slice.call(form.querySelectorAll('section.page'));
    var actions = form.querySelector('.actions');
    var current = 0;
    function show(index, focus) {
      current = index;
      pages.forEach(function (page, i) { page.hidden = i !== index; });
      actions.hidden = index !== pages.length - 1;
      if (focus) { pages[index].focus(); window.scrollTo(0, 0); }
    }
    if (pages.length > 1) {
      pages.forEach(function (page, i) {
        var nav = document.createElement('div');
        nav.className = 'nav';
        if (i > 0) nav.appendChild(button('Back', function () { show(i - 1, true); }));
        if (i < pages.length - 1) nav.appendChild(button('Next', function () { show(i + 1, true); }, true));
        page.appendChild(nav);
      });
      var withError = pages.findIndex(function (page) { return page.querySelector('.has-error'); });
      show(withError < 0 ? 0 : withError, false);
      // A link in the error summary opens the page of its question.
      if (summary) summary.addEventListener('click', function (event) {
        var link = event.target.closest('a[href^="#"]');
        var target = link && document.getElementById(link.getAttribute('href').slice(1));
        if (!target) return;
        var index = pages.findIndex(function (page) { return page.contains(target); });
        if (index >= 0) { event.preventDefault(); show(index, false); target.focus(); }
      });
      // Enter in a text box on an early page moves on instead of sending half a form.
      form.addEventListener('keydown', function (event) {
        if (event.key === 'Enter' && event.target.tagName === 'INPUT' && current < pages.length - 1) {
          event.preventDefault();
          show(current + 1, true);
        }
      });
    }
    if (summary) summary.focus();

    function button(text, onClick, primary) {
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = text;
      if (primary) b.className = 'primary';
      b.addEventListener('click', onClick);
      return b;
    }

    // Signature pads: drawing writes a PNG into the question's file input (which stays usable as an alternative).
    Array.prototype.forEach.call(form.querySelectorAll('[data-signature]'), function (box) {
      var input = box.querySelector('input[type=file]');
      if (!input || typeof DataTransfer === 'undefined' || !HTMLCanvasElement.prototype.toBlob) return;
      box.classList.add('sig');
      var canvas = document.createElement('canvas');
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', 'Signature pad: draw your signature with a finger, pen or mouse');
      var clear = button('Clear signature', function () {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        input.value = '';
      });
      var or = document.createElement('p');
      or.className = 'sig-or';
      or.textContent = 'Or choose an image of your signature:';
      box.insertBefore(canvas, input);
      box.insertBefore(clear, input);
      box.insertBefore(or, input);
      var ctx = canvas.getContext('2d');
      function size() {
        var ratio = window.devicePixelRatio || 1;
        canvas.width = Math.round(canvas.clientWidth * ratio);
        canvas.height = Math.round(canvas.clientHeight * ratio);
        ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
        ctx.lineWidth = 2.5;
        ctx.lineCap = 'round';
        ctx.lineJoin = 'round';
        ctx.strokeStyle = '#111827';
      }
      size();
      var drawing = false;
      var drawn = false;
      function point(event) {
        var rect = canvas.getBoundingClientRect();
        return [event.clientX - rect.left, event.clientY - rect.top];
      }
      canvas.addEventListener('pointerdown', function (event) {
        if (!canvas.width) size();
        drawing = true;
        canvas.setPointerCapture(event.pointerId);
        var p = point(event);
        ctx.beginPath();
        ctx.moveTo(p[0], p[1]);
        ctx.lineTo(p[0] + 0.1, p[1] + 0.1);
        ctx.stroke();
        drawn = true;
      });
      canvas.addEventListener('pointermove', function (event) {
        if (!drawing) return;
        var p = point(event);
        ctx.lineTo(p[0], p[1]);
        ctx.stroke();
      });
      function end() {
        if (!drawing) return;
        drawing = false;
        if (!drawn) return;
        canvas.toBlob(function (blob) {
          if (!blob) return;
          var files = new DataTransfer();
          files.items.add(new File([blob], 'signature.png', { type: 'image/png' }));
          input.files = files.files;
        }, 'image/png');
      }
      canvas.addEventListener('pointerup', end);
      canvas.addEventListener('pointercancel', end);
    });
  });

  // Embedded in another site: tell the host page (embed.js) our height, so its iframe fits without a scrollbar.
  if (window.parent !== window) {
    var report = function () {
      window.parent.postMessage({ sealform: 'height', height: document.documentElement.scrollHeight }, '*');
    };
    if (window.ResizeObserver) new ResizeObserver(report).observe(document.body);
    window.addEventListener('load', report);
    report();
  }
})();

// Sealform embed helper, for the page that embeds a form in an <iframe>: resizes each Sealform iframe to the height
// its form reports, so long forms and error messages never scroll inside a box. Only messages from the iframes'
// own windows are trusted, and only a number is read from them.
(function () {
  'use strict';
  window.addEventListener('message', function (event) {
    var data = event.data;
    if (!data || data.sealform !== 'height' || typeof data.height !== 'number') return;
    var frames = document.getElementsByTagName('iframe');
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === event.source) {
        frames[i].style.height = Math.max(200, Math.min(data.height + 4, 20000)) + 'px';
      }
    }
  });
})();

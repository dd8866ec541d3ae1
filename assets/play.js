// The player page: the title's HLS playlist in the page's <video>, through hls.js (Media
// Source Extensions) or the browser's own HLS (Safari). It says "preparing" until the picture
// moves, and a failed transcode's reason (the server's problem detail) when there is one. What
// browsers play as it is (an MP3) is given to the <video> directly. An audio title goes on to
// the next title when it ends.
(function () {
  'use strict';
  var video = document.getElementById('player');
  var status = document.getElementById('status');
  var words = video.dataset;
  function say(text, failed) {
    status.textContent = text;
    status.className = failed ? 'caution' : '';
  }
  function failed(detail) {
    say(words.failed + (detail ? ': ' + detail : ''), true);
  }
  // The problem document the server answered for a segment or the playlist, if any.
  function explain(url) {
    fetch(url, { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? null : r.json(); })
      .then(function (problem) { failed(problem && problem.detail); })
      .catch(function () { failed(''); });
  }
  say(words.preparing);
  video.addEventListener('playing', function () { say(''); });
  video.addEventListener('waiting', function () { say(words.preparing); });
  video.addEventListener('ended', function () {
    if (words.kind === 'audio' && words.next) {
      window.location.href = words.next + '?autoplay=1';
    }
  });
  var autoplay = /[?&]autoplay=1/.test(window.location.search);
  if (words.direct) {
    // The title's own bytes (an MP3): no transcode.
    video.addEventListener('error', function () { failed(''); });
    video.src = words.direct;
    if (autoplay) {
      video.play().catch(function () {});
    }
  } else if (window.Hls && window.Hls.isSupported()) {
    var hls = new window.Hls({ enableWorker: false });
    hls.on(window.Hls.Events.ERROR, function (_event, data) {
      if (!data.fatal) {
        return;
      }
      var url = (data.frag && data.frag.url) || (data.context && data.context.url);
      hls.destroy();
      if (url) {
        explain(url);
      } else {
        failed(data.details);
      }
    });
    hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
      if (autoplay) {
        video.play().catch(function () {});
      }
    });
    hls.loadSource(words.src);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = words.src;
  } else {
    failed(words.unsupported);
  }
  window.spindlePlayer = { video: video };
})();

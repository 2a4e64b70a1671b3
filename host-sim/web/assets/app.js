// glitter web app: the byte counter of the compose box and the live timeline.
// Everything shown comes from the server already escaped; this script only moves
// server-rendered fragments into place.
'use strict';

(function () {
  const text = document.getElementById('compose-text');
  const count = document.getElementById('compose-count');
  const send = document.getElementById('compose-send');
  if (text && count) {
    const max = Number(count.dataset.max || 512);
    const enc = new TextEncoder();
    const update = function () {
      const n = enc.encode(text.value).length;
      count.textContent = n + ' / ' + max + ' bytes';
      count.classList.toggle('over', n > max);
      if (send) send.disabled = n > max;
    };
    text.addEventListener('input', update);
    update();
  }

  const timeline = document.getElementById('timeline');
  if (!timeline || timeline.dataset.live !== '1' || !window.EventSource) return;
  const events = new EventSource('/events');
  events.addEventListener('lagged', function () { window.location.reload(); });
  events.addEventListener('block', async function (ev) {
    let b;
    try { b = JSON.parse(ev.data); } catch (e) { return; }
    if (b.kind !== 'post' || !/^[0-9a-f]{64}$/.test(b.author)) return;
    const id = 'p-' + b.author + '-' + Number(b.seq);
    if (document.getElementById(id)) return;
    const r = await fetch('/fragment/' + b.author + '/' + Number(b.seq), { credentials: 'same-origin' });
    if (!r.ok || document.getElementById(id)) return;
    const tpl = document.createElement('template');
    tpl.innerHTML = await r.text();
    const li = tpl.content.querySelector('li.post');
    if (!li) return;
    const parent = li.dataset.replyTo ? document.getElementById('p-' + li.dataset.replyTo) : null;
    const replies = parent ? parent.querySelector(':scope > ol.replies') : null;
    if (replies) {
      replies.appendChild(li);
    } else {
      timeline.insertBefore(li, timeline.firstChild);
    }
    li.classList.add('new');
    li.dataset.latencyMs = String(Math.max(0, Date.now() - Number(b.stored_ms)));
  });
})();

// Spindle's browser uploader: the steps of `spindle upload`, in a page.
// 1. Each chosen file's first and last bytes go to /images/probe, which names its format
//    (the server's own detector); /upload-plans turns the files, a manifest CSV or file-name
//    patterns into rows, each checked before anything moves.
// 2. Each file is hashed here, streaming (hash-wasm's SHA-256 over 8 MiB slices, so a 4 GB
//    image is never held in memory), then HEAD /blobs/{sha256} skips what the consortium
//    holds, and tus-js-client sends the rest, resumably (its URL is kept in localStorage, so
//    a reload or a lost network continues where it stopped). The server checks the hash.
// 3. Each disc is registered with its identifiers and its catalogue answer awaited, and the
//    same per-row report as the CLI's (CSV and JSON) ends the run.
(() => {
  'use strict';
  // Spindle may be mounted under a path of the library's site (http.base_path).
  const API = (document.documentElement.dataset.base || '') + '/api/v1';
  const HASH_SLICE = 8 << 20;
  const ROWS_AT_ONCE = 2;
  const LINK_WAIT_MS = 30000;
  const root = document.getElementById('uploader');
  const SAMPLE_HEAD = Number(root.dataset.sampleHead);
  const SAMPLE_TAIL = Number(root.dataset.sampleTail);
  const $ = (id) => document.getElementById(id);

  // Every word a person reads comes from the server's language catalogue
  // (locales/*/spindle.ftl, the `upload_` messages), in the page's language.
  const WORDS = JSON.parse(($('words') || {}).textContent || '{}');
  function t(key, values) {
    let text = WORDS[key] || key;
    for (const [name, value] of Object.entries(values || {})) {
      text = text.split('{' + name + '}').join(String(value));
    }
    return text;
  }
  document.title = t('upload_page_title');
  document.querySelectorAll('[data-t]').forEach((el) => {
    el.textContent = t('upload_' + el.dataset.t.replace(/-/g, '_'));
  });

  // The page comes with the session's form token: the API takes the session cookie only
  // together with it (another site can make the browser send the cookie, not this header).
  const CSRF = root.dataset.csrf;

  let plan = null;        // the server's plan
  let byPath = new Map(); // path -> File
  let paused = false;
  const active = new Set(); // tus uploads under way
  let running = false;

  // A manifest's text: UTF-8 (Excel's BOM dropped), else GB18030 — what Excel on Chinese
// Windows saves a CSV as; `File.text()` would read GBK as UTF-8 and garble every name.
async function manifestText(file) {
  const bytes = await file.arrayBuffer();
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (_) {
    return new TextDecoder('gb18030').decode(bytes);
  }
}

function showError(message) {
    const e = $('error');
    e.textContent = message;
    e.hidden = !message;
  }

  // Every request carries the form token, and asks for the server's error details in the
  // page's language.
  function auth() {
    return { 'X-Spindle-Csrf': CSRF, 'Accept-Language': document.documentElement.lang || 'en' };
  }

  async function api(method, path, body, headers) {
    const r = await fetch(API + path, { method, body, headers: { ...auth(), ...(headers || {}) } });
    return r;
  }

  async function reason(r) {
    try {
      const j = await r.json();
      return j.detail || j.code || ('HTTP ' + r.status);
    } catch (_) {
      return 'HTTP ' + r.status;
    }
  }

  function fmtBytes(n) {
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
  }

  function pathOf(file) {
    return file.webkitRelativePath || file.relativePath || file.name;
  }

  // Runs `work` over `items`, `n` at a time.
  async function pool(items, n, work) {
    let next = 0;
    const lanes = Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i], i);
      }
    });
    await Promise.all(lanes);
  }

  // ---- 1. the plan ----

  async function probe(file) {
    const head = Math.min(file.size, SAMPLE_HEAD);
    const tail = Math.min(file.size, SAMPLE_TAIL);
    const body = new Blob([file.slice(0, head), file.slice(file.size - tail)]);
    try {
      const r = await api('POST', '/images/probe?size=' + file.size, body,
        { 'Content-Type': 'application/octet-stream' });
      if (r.ok) return { probe: await r.json() };
      if (r.status === 401 || r.status === 403) throw new Error(await reason(r));
      return { error: await reason(r) };
    } catch (e) {
      if (e instanceof TypeError) return { error: t('upload_cannot_read', { error: e.message }) };
      throw e;
    }
  }

  async function choose(files) {
    showError('');
    if (running) return;
    const manifests = files.filter((f) => /\.csv$/i.test(f.name));
    if (manifests.length > 1) { showError(t('upload_one_manifest')); return; }
    const images = files.filter((f) => !/\.csv$/i.test(f.name));
    byPath = new Map(images.map((f) => [pathOf(f), f]));
    $('plan-summary').textContent = t('upload_checking', { n: images.length });
    $('plan').hidden = false;
    $('report').hidden = true;
    const reported = new Array(images.length);
    try {
      await pool(images, 4, async (f, i) => {
        reported[i] = { path: pathOf(f), size: f.size, ...(await probe(f)) };
      });
      const request = {
        files: reported,
        patterns: $('patterns').value.split(',').map((p) => p.trim()).filter(Boolean),
        manifest: manifests.length ? await manifestText(manifests[0]) : null,
      };
      const r = await api('POST', '/upload-plans', JSON.stringify(request),
        { 'Content-Type': 'application/json' });
      if (!r.ok) throw new Error(await reason(r));
      plan = await r.json();
    } catch (e) {
      $('plan-summary').textContent = '';
      showError(e.message);
      return;
    }
    renderPlan();
  }

  function ids(row) {
    return [['ISBN', row.isbn], ['barcode', row.barcode], ['record', row.record_id],
      ['disc', row.disc_number], ['label', row.label]]
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => k + ' ' + v).join(', ');
  }

  function renderPlan() {
    const tbody = $('rows');
    tbody.replaceChildren();
    for (const row of plan.rows) {
      const tr = document.createElement('tr');
      tr.dataset.row = row.row;
      const cells = [String(row.row), row.path + row.parts.map((p) => ' + ' + p[1]).join(''),
        ids(row), row.format || '', fmtBytes(row.bytes)];
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      const prog = document.createElement('td');
      const bar = document.createElement('progress');
      bar.max = 1; bar.value = 0;
      prog.append(bar);
      tr.append(prog);
      const outcome = document.createElement('td');
      outcome.className = 'outcome';
      if (row.invalid) {
        outcome.textContent = t('upload_invalid', { why: row.invalid });
        outcome.classList.add('failed');
      }
      tr.append(outcome);
      tbody.append(tr);
    }
    $('plan-summary').textContent = t('upload_plan_summary',
      { discs: plan.discs, bytes: fmtBytes(plan.bytes), invalid: plan.invalid });
    const unused = $('unused');
    unused.hidden = !plan.unused.length;
    unused.textContent = plan.unused.length
      ? t('upload_unused', { files: plan.unused.join(', ') }) : '';
    $('start').disabled = plan.discs === 0;
    $('overall-bar').value = 0;
    $('overall-text').textContent = '';
  }

  // ---- 2. hash, dedup, transfer ----

  async function sha256(file, progress) {
    const hasher = await hashwasm.createSHA256();
    hasher.init();
    for (let at = 0; at < file.size; at += HASH_SLICE) {
      const slice = await file.slice(at, Math.min(file.size, at + HASH_SLICE)).arrayBuffer();
      hasher.update(new Uint8Array(slice));
      progress(slice.byteLength);
    }
    return hasher.digest('hex');
  }

  async function blobExists(sha) {
    const r = await api('HEAD', '/blobs/' + sha);
    if (r.status === 200) return true;
    if (r.status === 404) return false;
    throw new Error(t('upload_server_check', { status: r.status }));
  }

  let partSize = 0;
  async function serverPartSize() {
    if (!partSize) {
      const r = await fetch(API + '/uploads', { method: 'OPTIONS' });
      partSize = Number(r.headers.get('Spindle-Part-Size')) || (8 << 20);
    }
    return partSize;
  }

  function tusReason(err) {
    const res = err && err.originalResponse;
    if (res) {
      try {
        const j = JSON.parse(res.getBody());
        if (j.detail) return j.detail;
      } catch (_) { /* not JSON */ }
      return 'HTTP ' + res.getStatus();
    }
    return String(err && err.message || err);
  }

  async function serverOffset(url) {
    try {
      const r = await fetch(url, { method: 'HEAD', headers: { ...auth(), 'Tus-Resumable': '1.0.0' } });
      return r.ok ? Number(r.headers.get('Upload-Offset')) || 0 : 0;
    } catch (_) {
      return 0;
    }
  }

  // Sends `file` unless the server holds `sha`; resolves to the bytes sent.
  async function ensureStored(file, sha, progress) {
    if (await blobExists(sha)) return 0;
    const chunk = (await serverPartSize()) * 4;
    return new Promise((resolve, reject) => {
      let start = null;
      let last = 0;
      const upload = new tus.Upload(file, {
        endpoint: location.origin + API + '/uploads',
        chunkSize: chunk,
        retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
        metadata: { sha256: sha, filename: file.name },
        headers: auth(),
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        onProgress(sent) {
          progress(sent - last, sent);
          last = sent;
        },
        onSuccess() {
          active.delete(upload);
          resolve(Math.max(0, file.size - (start || 0)));
        },
        async onError(err) {
          active.delete(upload);
          // Another uploader may have finished the same bytes meanwhile.
          try { if (await blobExists(sha)) { resolve(0); return; } } catch (_) { /* below */ }
          reject(new Error(tusReason(err)));
        },
      });
      upload.findPreviousUploads().then(async (previous) => {
        // What an earlier, interrupted run left on the server is not sent again.
        start = previous.length ? await serverOffset(previous[0].uploadUrl) : 0;
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        active.add(upload);
        if (!paused) upload.start();
      }).catch(reject);
    });
  }

  // Shows the server that the member holds `sha` (the bytes of `file`): unless it holds them
  // already, the server names ranges and the page answers the SHA-256 of each from the file.
  // No bytes are sent.
  async function prove(file, sha) {
    const member = $('member').value.trim() || null;
    const headers = { 'Content-Type': 'application/json' };
    const r = await api('POST', '/blobs/' + sha + '/challenges', JSON.stringify({ member }), headers);
    if (r.status === 200) return;
    if (r.status !== 201) throw new Error(t('upload_prove_failed', { why: await reason(r) }));
    const challenge = await r.json();
    const answers = [];
    for (const range of challenge.ranges) {
      const bytes = await file.slice(range.offset, range.offset + range.length).arrayBuffer();
      const hasher = await hashwasm.createSHA256();
      hasher.init();
      hasher.update(new Uint8Array(bytes));
      answers.push(hasher.digest('hex'));
    }
    const a = await api('POST', '/blobs/' + sha + '/challenges/' + challenge.id,
      JSON.stringify({ member, answers }), headers);
    if (!a.ok) throw new Error(t('upload_prove_failed', { why: await reason(a) }));
  }

  async function register(row, sha, partShas) {
    const body = { sha256: sha, filename: row.path.split('/').pop() };
    for (const k of ['isbn', 'barcode', 'record_id', 'label', 'disc_number']) {
      if (row[k] !== null && row[k] !== undefined) body[k] = row[k];
    }
    const member = $('member').value.trim();
    if (member) body.member = member;
    if (partShas.length) body.parts = partShas.map(([name, s]) => ({ name, sha256: s }));
    const r = await api('POST', '/discs', JSON.stringify(body), { 'Content-Type': 'application/json' });
    if (!r.ok) throw new Error(t('upload_register_failed', { why: await reason(r) }));
    const disc = await r.json();
    return { id: disc.id, member: disc.member };
  }

  async function linkStatus(id) {
    const until = Date.now() + LINK_WAIT_MS;
    for (;;) {
      const r = await api('GET', '/discs/' + id);
      if (!r.ok) throw new Error(t('upload_status_failed', { why: await reason(r) }));
      const disc = await r.json();
      const status = disc.link_status || 'unknown';
      const image = (disc.image || {}).status || 'pending';
      const read = image === 'indexed' || image === 'failed';
      if ((status !== 'pending' && read) || Date.now() >= until) {
        return { status, formats: (disc.image || {}).formats || [] };
      }
      await new Promise((ok) => setTimeout(ok, 300));
    }
  }

  const overall = { total: 0, done: 0, started: 0 };
  function advance(n) {
    overall.done += n;
    const frac = overall.total ? overall.done / overall.total : 1;
    $('overall-bar').value = Math.min(1, frac);
    const secs = (performance.now() - overall.started) / 1000;
    const rate = secs > 0 ? overall.done / secs : 0;
    const eta = rate > 0 ? Math.round((overall.total - overall.done) / rate) : 0;
    $('overall-text').textContent = fmtBytes(overall.done) + ' / ' + fmtBytes(overall.total)
      + ' · ' + fmtBytes(rate) + '/s · ETA ' + eta + ' s';
  }

  async function uploadRow(row, tr) {
    const rep = {
      row: row.row, path: row.path, sha256: null, bytes: row.bytes, bytes_sent: 0,
      outcome: 'failed', member: null, disc: null, link_status: null, warning: null, error: row.invalid || null,
    };
    if (row.invalid) return rep;
    const bar = tr.querySelector('progress');
    const status = tr.querySelector('.outcome');
    // Hashing and sending each count once toward the row's bar (and the overall one).
    const rowTotal = row.bytes * 2;
    let rowDone = 0;
    const step = (n) => { rowDone += n; bar.value = Math.min(1, rowDone / rowTotal); advance(n); };
    try {
      const files = row.parts.map(([name, p]) => [name, byPath.get(p)]);
      files.push([null, byPath.get(row.path)]);
      const shas = [];
      let sent = 0;
      for (const [name, file] of files) {
        if (!file) throw new Error(t('upload_file_gone'));
        status.textContent = t('upload_hashing', { file: file.name });
        const sha = await sha256(file, step);
        status.textContent = t('upload_sending', { file: file.name });
        let counted = 0;
        const bytes = await ensureStored(file, sha, (n) => { counted += n; step(n); });
        step(Math.max(0, file.size - counted));
        sent += bytes;
        shas.push([name, sha]);
        if (bytes === 0) {
          status.textContent = t('upload_proving', { file: file.name });
          await prove(file, sha);
        }
      }
      const [, sha] = shas.pop();
      rep.sha256 = sha;
      rep.bytes_sent = sent;
      rep.outcome = sent > 0 ? 'uploaded' : 'already-present';
      status.textContent = t('upload_registering');
      const registered = await register(row, sha, shas);
      rep.disc = registered.id;
      rep.member = registered.member;
      status.textContent = t('upload_asking_catalogue');
      const settled = await linkStatus(rep.disc);
      rep.link_status = settled.status;
      if (settled.formats.includes('vcd-video-lost')) rep.warning = t('upload_vcd_video_lost');
      rep.error = null;
    } catch (e) {
      rep.outcome = 'failed';
      rep.error = e.message;
    }
    return rep;
  }

  function csvCell(s) {
    s = s === null || s === undefined ? '' : String(s);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function showReport(reports) {
    const cols = ['row', 'path', 'sha256', 'bytes', 'bytes_sent', 'outcome', 'member', 'disc', 'link_status', 'warning', 'error'];
    // With a byte-order mark, as the CLI writes it: Excel then reads Chinese paths as UTF-8.
    const csv = '\ufeff' + cols.join(',') + '\n' + reports.map((r) => cols.map((c) => csvCell(r[c])).join(',')).join('\n') + '\n';
    const json = JSON.stringify(reports, null, 2);
    $('report-csv').href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    $('report-json-link').href = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
    $('report-json').value = json;
    const failed = reports.filter((r) => r.outcome === 'failed').length;
    const sent = reports.reduce((a, r) => a + r.bytes_sent, 0);
    $('report-summary').textContent = t('upload_report_summary',
      { rows: reports.length, failed: failed, sent: fmtBytes(sent) });
    $('report').hidden = false;
    $('report').dataset.state = failed ? 'failed' : 'done';
  }

  async function start() {
    if (!plan || running) return;
    running = true;
    showError('');
    $('start').disabled = true;
    $('pause').disabled = false;
    const valid = plan.rows.filter((r) => !r.invalid);
    overall.total = valid.reduce((a, r) => a + r.bytes * 2, 0);
    overall.done = 0;
    overall.started = performance.now();
    const reports = [];
    await pool(plan.rows, ROWS_AT_ONCE, async (row) => {
      const tr = document.querySelector('tr[data-row="' + row.row + '"]');
      const rep = await uploadRow(row, tr);
      const cell = tr.querySelector('.outcome');
      cell.className = 'outcome ' + rep.outcome;
      cell.textContent = rep.outcome + (rep.link_status ? ', ' + rep.link_status : '')
        + (rep.warning ? ' — ' + rep.warning : '') + (rep.error ? ' — ' + rep.error : '');
      tr.dataset.outcome = rep.outcome;
      reports.push(rep);
    });
    reports.sort((a, b) => a.row - b.row);
    showReport(reports);
    running = false;
    $('pause').disabled = true;
    $('resume').disabled = true;
    $('start').disabled = false;
  }

  function pause() {
    paused = true;
    for (const u of active) u.abort();
    $('pause').disabled = true;
    $('resume').disabled = false;
  }

  function resume() {
    paused = false;
    for (const u of active) u.start();
    $('pause').disabled = false;
    $('resume').disabled = true;
  }

  // ---- choosing files ----

  function readEntries(reader) {
    return new Promise((ok, fail) => reader.readEntries(ok, fail));
  }

  async function walk(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((ok, fail) => entry.file(ok, fail));
      file.relativePath = prefix + file.name;
      out.push(file);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await readEntries(reader);
        if (!batch.length) break;
        for (const e of batch) await walk(e, prefix + entry.name + '/', out);
      }
    }
  }

  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const entries = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    const out = [];
    if (entries.length) {
      for (const entry of entries) await walk(entry, '', out);
    } else {
      out.push(...e.dataTransfer.files);
    }
    choose(out);
  });
  for (const id of ['files', 'folder']) {
    $(id).addEventListener('change', (e) => choose([...e.target.files]));
  }
  $('start').addEventListener('click', start);
  $('pause').addEventListener('click', pause);
  $('resume').addEventListener('click', resume);
})();

// The /monitoring page's behaviour: one EventSource on /api/stream (a `snapshot`, then
// `changes` merged by id, `feed_error` when Supabase cannot be asked), rendered with DOM
// nodes and textContent only. Titles, emails and error messages are user input: nothing
// from the data is ever parsed as HTML or put into an attribute that runs code
// (tests/dashboard.rs checks the script has no HTML-parsing sink).
//
// Every label for a server value (statuses, sources, stages, severities, error codes,
// "Tentative n/3") and the units (bytes per MB, the "à l'instant" threshold) come from the
// server, rendered from monitor-core into <script id="page-config">. The formats written
// here (ago, sizes, initials, elapsed, ETA) are exported as window.monitoringFormat and held
// to monitor-core's by the browser test (tests/browser.rs).
'use strict';

(() => {
  const CONFIG = JSON.parse(document.getElementById('page-config').textContent);
  const L = CONFIG.labels;
  // The snapshot's own limits: 100 upload cards, 20 bugs, 50 rows per error tab.
  const MAX_CARDS = 100;
  const MAX_BUGS = 20;
  const MAX_TAB_ROWS = 50;
  const DAY_MS = 24 * 3600 * 1000;
  const MAX_RETRIES = L.maxRetries;
  const BYTES_PER_MB = L.bytesPerMb;
  const JUST_NOW_SECONDS = L.justNowSeconds;
  // After the server refuses the stream (EventSource gives up on a non-200), try again.
  const RECONNECT_MS = 10000;
  // The feed sends something every second (POLL_INTERVAL); this long without a word and the
  // figures on screen are marked stale.
  const SILENCE_MS = 4000;
  // Retries asked from this browser, remembered across reloads until the card changes.
  const RETRY_KEY = 'monitoring.retryRequested';

  const STATUS = L.status;
  const SOURCE = L.source;
  const STAGE = L.stage;
  const EVENT_KIND = L.eventKind;
  const SEVERITY = L.severity;
  const BUG_STATUS = L.bugStatus;
  const BUG_TYPE = L.bugType;
  const ERROR_CODE = L.errorCode;
  const TRANSCRIPTION = L.transcriptionStatus;

  const bugTypeIcon = (type) => (BUG_TYPE[type] || BUG_TYPE.other || { icon: '🐛' }).icon;
  const bugTypeLabel = (type) => (BUG_TYPE[type] ? BUG_TYPE[type].label : type || 'Autre');
  const errorCodeLabel = (code) => ERROR_CODE[code] || code;
  const severityLabel = (sev) => (SEVERITY[sev] ? `${SEVERITY[sev].icon} ${SEVERITY[sev].label}` : (sev || 'Sans sévérité'));
  const bugStatusLabel = (st) => {
    const known = BUG_STATUS[st || 'new'];
    return known ? `${known.icon} ${known.label}` : st;
  };
  const retryBadge = (n) => L.retryBadge[String(n)] || `${n}/${MAX_RETRIES}`;

  const state = {
    // Server clock minus browser clock, from each answer's generatedAt: relative times are
    // computed on the server's clock.
    offset: 0,
    stats: null,
    topErrors: [],
    uploads: new Map(),
    bugs: new Map(),
    uploadErrors: new Map(),
    transcriptionErrors: new Map(),
    networkErrors: new Map(),
    // Uploads whose retry this browser asked for, id -> when (the card does not carry
    // retry_requested_at yet; kept in localStorage so a reload still says "Relance demandée").
    retried: loadRetried(),
    // Display order of each list (ids): stable; new items enter at the top.
    order: { uploads: [], bugs: [], 'upload-errors': [], 'transcription-errors': [], 'network-errors': [] },
    // Pause: the lists stop changing (data still arrives; figures keep updating).
    paused: false,
    pendingWhilePaused: 0,
    // Pointer or keyboard focus inside a list: its rows do not move until it leaves.
    holding: new Set(),
    // "Voir plus": the next page of monitoring_uploads, and how many cards it added.
    nextCursor: undefined,
    extraCards: 0,
    lastMessageAt: 0,
    tab: 'upload-errors',
    rendered: false,
  };

  // ---------------------------------------------------------------------------------------
  // Formatting
  // ---------------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function serverNow() {
    return Date.now() + state.offset;
  }

  function time(ts) {
    const t = ts ? Date.parse(ts) : NaN;
    return Number.isFinite(t) ? t : null;
  }

  function formatElapsed(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }

  function ago(ts, nowMs) {
    const t = time(ts);
    if (t === null) return '';
    const s = Math.floor(((nowMs === undefined ? serverNow() : nowMs) - t) / 1000);
    if (s < JUST_NOW_SECONDS) return "à l'instant";
    if (s < 60) return `il y a ${s}s`;
    if (s < 3600) return `il y a ${Math.floor(s / 60)}m`;
    if (s < 86400) return `il y a ${Math.floor(s / 3600)}h`;
    return `il y a ${Math.floor(s / 86400)}j`;
  }

  function agoCapitalized(ts) {
    const text = ago(ts);
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : '';
  }

  // speed.rs `eta`: seconds left at the card's speed, rounded up; null when unknown.
  function eta(bytesSent, fileSize, mbPerS) {
    if (typeof fileSize !== 'number' || typeof mbPerS !== 'number' || !(mbPerS > 0)) return null;
    const remaining = Math.max(0, fileSize - (Number(bytesSent) || 0)) / BYTES_PER_MB;
    return Math.ceil(remaining / mbPerS);
  }

  function loadRetried() {
    try {
      return new Map(Object.entries(JSON.parse(localStorage.getItem(RETRY_KEY) || '{}')));
    } catch (e) {
      return new Map();
    }
  }

  function saveRetried() {
    try {
      localStorage.setItem(RETRY_KEY, JSON.stringify(Object.fromEntries(state.retried)));
    } catch (e) {
      // Private mode or storage full: the label then lasts until the page is reloaded.
    }
  }

  // A retry asked at `at` is still pending while the card has not changed since.
  function retryPending(card) {
    const asked = card.retryRequestedAt || state.retried.get(card.id);
    if (!asked || card.status !== 'failed') return false;
    const changed = time(card.updatedAt);
    return changed === null || time(asked) === null || changed <= time(asked) + 1000;
  }

  function sizeMb(bytes) {
    return typeof bytes === 'number' ? `${(bytes / BYTES_PER_MB).toFixed(1)} MB` : null;
  }

  function percent(value) {
    return typeof value === 'number' ? String(Math.round(value * 10) / 10) : '0';
  }

  function dateTime(ts) {
    const t = time(ts);
    return t === null ? '–' : new Date(t).toLocaleString('fr-FR');
  }

  // At most n characters (code points, so an emoji is never cut in half).
  function truncate(text, n) {
    const chars = Array.from(text || '');
    return chars.length > n ? `${chars.slice(0, n).join('')}…` : chars.join('');
  }

  const ALNUM = /[\p{L}\p{N}]/u;
  function leading(word) {
    for (const c of word) if (ALNUM.test(c)) return c;
    return null;
  }
  function fromWords(words) {
    const kept = words.filter((w) => leading(w) !== null).slice(0, 2);
    if (kept.length === 1) return Array.from(kept[0]).filter((c) => ALNUM.test(c)).slice(0, 2).join('');
    if (kept.length === 2) return leading(kept[0]) + leading(kept[1]);
    return '';
  }
  // display.rs `initials`: "JD" for John Doe, else from the email's local part, else "?".
  function initials(first, last, email) {
    const f = (first || '').trim();
    const l = (last || '').trim();
    let letters;
    if (f && l) letters = (leading(f) || '') + (leading(l) || '');
    else if (f || l) letters = fromWords((f || l).split(/\s+/));
    else letters = fromWords((email || '').split('@')[0].split(/[._+-]/));
    return letters ? letters.toUpperCase() : '?';
  }

  function statusOf(card) {
    return STATUS[card.status] || { icon: '⚪', label: card.status, rank: 9 };
  }

  function finishedAt(card) {
    return card.completedAt || card.updatedAt || card.startedAt;
  }

  // speed.rs `time_line`: running time while active, else when it finished.
  function timeLine(card) {
    if (card.status === 'completed') return `Complété ${ago(finishedAt(card))}`;
    if (card.status === 'failed') return `Échec ${ago(finishedAt(card))}`;
    const started = time(card.startedAt);
    return started === null ? '' : formatElapsed((serverNow() - started) / 1000);
  }

  // ---------------------------------------------------------------------------------------
  // State: snapshots replace, changes merge by id
  // ---------------------------------------------------------------------------------------

  function byId(list) {
    const map = new Map();
    for (const item of list || []) map.set(item.id, item);
    return map;
  }

  // A change can arrive after a fresher copy of the same card (the feed repeats the last
  // 2 s): keep the newer one by updatedAt.
  function mergeCard(map, card) {
    const old = map.get(card.id);
    if (old && time(old.updatedAt) !== null && time(card.updatedAt) !== null
        && time(old.updatedAt) > time(card.updatedAt)) {
      return;
    }
    map.set(card.id, card);
  }

  function isNetworkError(bug) {
    return bug.error_type === 'network' || /upload/i.test(bug.error_message || '');
  }

  function setClock(answer) {
    const t = time(answer.generatedAt);
    if (t !== null) state.offset = t - Date.now();
  }

  function applySnapshot(snapshot) {
    setClock(snapshot);
    state.stats = snapshot.stats;
    state.topErrors = snapshot.topErrors || [];
    const uploads = byId(snapshot.uploads);
    // Cards "Voir plus" brought stay (the snapshot holds only the first 100).
    if (state.extraCards) {
      for (const [id, card] of state.uploads) if (!uploads.has(id)) uploads.set(id, card);
    }
    state.uploads = uploads;
    state.bugs = byId(snapshot.recentBugs);
    state.uploadErrors = byId(snapshot.uploadErrors);
    state.transcriptionErrors = byId(snapshot.transcriptionErrors);
    state.networkErrors = byId(snapshot.networkErrors);
    renderAll();
  }

  function applyChanges(changes) {
    setClock(changes);
    state.stats = changes.stats;
    for (const card of changes.uploads || []) {
      mergeCard(state.uploads, card);
      if (card.status === 'failed') mergeCard(state.uploadErrors, card);
      else state.uploadErrors.delete(card.id);
      if (state.retried.has(card.id) && !retryPending(card)) {
        state.retried.delete(card.id);
        saveRetried();
      }
    }
    for (const bug of changes.bugs || []) {
      state.bugs.set(bug.id, bug);
      if (isNetworkError(bug)) state.networkErrors.set(bug.id, bug);
    }
    for (const job of changes.transcriptionErrors || []) state.transcriptionErrors.set(job.id, job);
    renderAll();
  }

  const desc = (a, b) => (a < b ? 1 : a > b ? -1 : 0);

  // The first screen's order (the spec's): uploading, pending, failed, completed; newest
  // start first. After that the order is stable (stableOrder).
  function sortedUploads() {
    return [...state.uploads.values()].sort((a, b) => statusOf(a).rank - statusOf(b).rank
      || desc(time(a.startedAt) || 0, time(b.startedAt) || 0) || desc(a.id, b.id));
  }

  // "🐛 Bugs récents": 24 h, by severity then newest (the spec's CASE; unknown last).
  function sortedBugs() {
    const since = serverNow() - DAY_MS;
    const rank = (bug) => (SEVERITY[bug.severity] || { rank: 5 }).rank;
    return [...state.bugs.values()]
      .filter((bug) => (time(bug.created_at) || 0) >= since)
      .sort((a, b) => rank(a) - rank(b) || desc(time(a.created_at) || 0, time(b.created_at) || 0)
        || desc(a.id, b.id));
  }

  function sortedNewestFirst(map, when) {
    return [...map.values()].sort((a, b) => desc(time(when(a)) || 0, time(when(b)) || 0)
      || desc(a.id, b.id));
  }

  // A list's display order. The first time: `sorted`. After that, rows already shown keep
  // their place, rows new to the list enter at the top, gone rows leave; while the list is
  // held (pointer or keyboard focus inside it) nothing enters or leaves, rows only update
  // in place, so what is under the pointer stays there. At most `max` rows: the map loses
  // what falls off the bottom, so a long session does not grow without bound.
  const shown = {};
  function stableOrder(name, sorted, map, max) {
    const byId = new Map(sorted.map((item) => [item.id, item]));
    const previous = state.order[name];
    const last = shown[name] || new Map();
    let list;
    if (state.holding.has(name) && previous.length) {
      list = previous.filter((id) => byId.has(id) || last.has(id))
        .map((id) => byId.get(id) || last.get(id));
    } else if (!previous.length) {
      list = sorted;
    } else {
      const known = new Set(previous);
      list = [...sorted.filter((item) => !known.has(item.id)),
        ...previous.filter((id) => byId.has(id)).map((id) => byId.get(id))];
    }
    const kept = list.slice(0, max);
    for (const dropped of list.slice(max)) map.delete(dropped.id);
    state.order[name] = kept.map((item) => item.id);
    shown[name] = new Map(kept.map((item) => [item.id, item]));
    return kept;
  }

  // ---------------------------------------------------------------------------------------
  // Rendering
  // ---------------------------------------------------------------------------------------

  function renderAll() {
    renderStats();
    renderTopErrors();
    renderLists();
    state.rendered = true;
  }

  // The three lists; while paused they keep what they show (the data still arrives).
  function renderLists() {
    if (state.paused) {
      state.pendingWhilePaused += 1;
      $('pause-state').textContent = `En pause : ${state.pendingWhilePaused} mise(s) à jour en attente`;
      return;
    }
    renderUploads();
    renderBugs();
    renderErrorTabs();
  }

  function setText(id, value) {
    $(id).textContent = value === undefined || value === null ? '–' : String(value);
  }

  function renderStats() {
    const s = state.stats;
    if (!s) return;
    setText('stat-active', s.uploadsInProgress);
    setText('stat-pending', s.uploadsPending);
    setText('stat-completed', s.uploadsCompletedToday);
    setText('stat-success-rate', percent(s.successRate));
    setText('stat-failed', s.uploadsFailedToday);
    setText('stat-failed-rate', percent(s.failedUploadRate));
    setText('stat-speed', Number(s.avgUploadSpeed || 0).toFixed(1));
    setText('stat-bugs', s.newBugsToday);
    setText('stat-critical', s.criticalBugsToday);
  }

  function emptyRow(text, columns) {
    const row = el('tr');
    const cell = el('td', 'empty', text);
    cell.colSpan = columns;
    row.append(cell);
    return row;
  }

  function renderTopErrors() {
    const rows = state.topErrors.map((e) => {
      const row = el('tr');
      const cells = [el('td', 'num', e.count), el('td', 'num', e.uniqueUsers),
        el('td', 'num', `${percent(e.percentage)}%`)];
      ['Occurrences', 'Utilisateurs', '% Total'].forEach((label, i) => { cells[i].dataset.label = label; });
      row.append(el('td', 'message', e.message), ...cells);
      return row;
    });
    $('top-errors').replaceChildren(...(rows.length ? rows
      : [emptyRow('Aucune erreur dans les dernières 24h', 4)]));
  }

  // The avatar's colour is the user's overall state (spec "Badge couleur selon statut global
  // utilisateur"): failing if any upload failed, else uploading, else waiting, else done.
  function userStates(cards) {
    const worst = new Map();
    const weight = { failed: 4, uploading: 3, pending: 2, completed: 1 };
    for (const card of cards) {
      const key = card.userId || card.userEmail || card.id;
      const current = worst.get(key);
      if (!current || (weight[card.status] || 0) > (weight[current] || 0)) worst.set(key, card.status);
    }
    return worst;
  }

  const USER_STATE_LABEL = {
    failed: 'a un upload en échec', uploading: 'envoie une vidéo',
    pending: 'a un upload en attente', completed: 'tous ses uploads sont complétés',
  };

  // Row views of each keyed list, by id.
  const rowViews = {
    uploads: new Map(), bugs: new Map(), 'upload-errors': new Map(),
    'transcription-errors': new Map(), 'network-errors': new Map(),
  };

  // Fades a row in once: only rows that arrive live, never the first screen.
  function fadeIn(root) {
    if (!state.rendered) return;
    root.classList.add('is-new');
    root.addEventListener('animationend', function done(event) {
      if (event.animationName !== 'fade-in') return;
      root.classList.remove('is-new');
      root.removeEventListener('animationend', done);
    });
  }

  // Puts `list` in `container`, one node per id: a row that exists is updated in place (and
  // only when its data changed), so clicks, keyboard focus and text selection survive
  // updates; nodes move only when rows enter or leave.
  function renderKeyed(container, name, list, create, update, signature, emptyText) {
    const views = rowViews[name];
    if (!list.length) {
      views.clear();
      container.replaceChildren(el('div', 'empty', emptyText));
      return;
    }
    const keep = new Set();
    let previous = null;
    for (const item of list) {
      let view = views.get(item.id);
      if (!view) {
        view = create(item);
        view.root.dataset.id = item.id;
        views.set(item.id, view);
        fadeIn(view.root);
      }
      const sig = signature(item);
      if (view.sig !== sig) {
        update(view, item);
        view.sig = sig;
      }
      keep.add(item.id);
      const next = previous ? previous.nextSibling : container.firstChild;
      if (next !== view.root) container.insertBefore(view.root, next);
      previous = view.root;
    }
    while (previous.nextSibling) previous.nextSibling.remove();
    for (const id of [...views.keys()]) if (!keep.has(id)) views.delete(id);
  }

  function button(text, className, onClick) {
    const b = el('button', className ? `btn ${className}` : 'btn', text);
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  }

  function createCardView() {
    const v = {};
    v.root = el('article', 'upload-card');
    v.avatar = el('div', 'avatar');
    v.email = el('span', 'email');
    v.status = el('span', 'badge');
    v.retry = el('span', 'badge retry');
    v.stale = el('span', 'badge stale', '⏸️ Sans nouvelles depuis 30 min');
    v.stale.title = "L'appareil n'a rien envoyé depuis plus de 30 minutes";
    v.derived = el('span', 'badge derived', 'Déduit (videos)');
    v.derived.title = "Phase 1 : statut déduit de la table videos, l'app ne rapporte pas encore";
    v.title = el('span', 'video-title');
    v.source = el('span', 'source');
    v.size = el('span', 'size');
    v.duration = el('span', 'duration');
    v.bar = el('div', 'bar');
    const progress = el('div', 'progress');
    progress.setAttribute('role', 'progressbar');
    progress.setAttribute('aria-valuemin', '0');
    progress.setAttribute('aria-valuemax', '100');
    progress.append(v.bar);
    v.progress = progress;
    v.pct = el('span', 'pct');
    v.eta = el('span', 'eta');
    v.speed = el('span', 'speed');
    v.stage = el('span', 'stage');
    v.time = el('span', 'time');
    v.error = el('div', 'error-text');
    v.details = button('Détails', '', () => openUploadDetails(v.card));
    v.retryButton = button('Réessayer', 'primary', () => requestRetry(v.card, v.retryButton));

    const head = el('div', 'line');
    head.append(v.email, v.status, v.retry, v.stale, v.derived);
    const video = el('div', 'line video-line');
    v.seps = [el('span', 'sep', '·'), el('span', 'sep', '·'), el('span', 'sep', '·')];
    for (const sep of v.seps) sep.setAttribute('aria-hidden', 'true');
    video.append(v.title, v.seps[0], v.source, v.seps[1], v.size, v.seps[2], v.duration);
    const metrics = el('div', 'metrics');
    metrics.append(v.pct, v.speed, v.eta, v.stage, v.time);
    const main = el('div', 'upload-main');
    main.append(head, video, progress, metrics, v.error);
    const actions = el('div', 'actions');
    actions.append(v.details, v.retryButton);
    v.root.append(v.avatar, main, actions);
    return v;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function updateCardView(v, card, userState) {
    v.card = card;
    const st = statusOf(card);
    v.root.classList.remove('status-pending', 'status-uploading', 'status-completed', 'status-failed');
    v.root.classList.add(`status-${card.status}`);

    v.avatar.textContent = initials(card.userFirstName, card.userLastName, card.userEmail);
    v.avatar.className = `avatar user-${userState || card.status}`;
    v.avatar.title = `Utilisateur : ${USER_STATE_LABEL[userState] || ''}`;
    v.email.textContent = card.userEmail || 'Utilisateur inconnu';

    v.status.textContent = `${st.icon} ${st.label}`;
    v.status.className = `badge status-${card.status}`;
    const retries = Number(card.retryCount) || 0;
    v.retry.textContent = retryBadge(retries);
    show(v.retry, retries > 0);
    show(v.stale, Boolean(card.isStale));
    show(v.derived, card.origin === 'videos');

    v.title.textContent = card.videoTitle || card.filename || 'Sans titre';
    v.title.title = card.filename || '';
    const source = SOURCE[card.source];
    v.source.textContent = source || '';
    const size = sizeMb(card.fileSize);
    v.size.textContent = size || '';
    v.duration.textContent = typeof card.duration === 'number' ? `Durée ${formatElapsed(card.duration)}` : '';
    show(v.source, Boolean(source));
    show(v.size, Boolean(size));
    show(v.duration, typeof card.duration === 'number');
    show(v.seps[0], Boolean(source));
    show(v.seps[1], Boolean(size));
    show(v.seps[2], typeof card.duration === 'number');

    const pct = Math.max(0, Math.min(100, Number(card.progress) || 0));
    v.bar.style.width = `${pct}%`;
    v.progress.setAttribute('aria-valuenow', String(pct));
    v.progress.setAttribute('aria-label', `Progression de ${card.videoTitle || card.filename || 'la vidéo'}`);
    v.pct.textContent = `${pct}%`;
    const uploading = card.status === 'uploading';
    v.speed.textContent = uploading && typeof card.uploadSpeed === 'number'
      ? `${card.uploadSpeed.toFixed(1)} MB/s` : '';
    show(v.speed, v.speed.textContent !== '');
    const left = uploading ? eta(card.bytesSent, card.fileSize, card.uploadSpeed) : null;
    v.eta.textContent = left === null ? '' : `reste ~${formatElapsed(left)}`;
    v.eta.title = 'Temps restant estimé à la vitesse actuelle';
    show(v.eta, left !== null);
    const active = uploading || card.status === 'pending';
    v.stage.textContent = active && STAGE[card.stage] ? STAGE[card.stage] : '';
    show(v.stage, v.stage.textContent !== '');
    v.time.textContent = timeLine(card);

    const failed = card.status === 'failed';
    v.error.textContent = failed
      ? [card.errorCode ? `${errorCodeLabel(card.errorCode)} :` : '', card.errorMessage || 'Échec sans message'].join(' ').trim()
      : '';
    show(v.error, failed);

    configureRetry(v.retryButton, card);
  }

  // "Réessayer": failed reported uploads only, while retries remain.
  function configureRetry(b, card) {
    const failed = card.status === 'failed' && card.origin !== 'videos';
    show(b, failed);
    if (!failed) return;
    const used = (Number(card.retryCount) || 0) >= MAX_RETRIES;
    const asked = retryPending(card);
    b.disabled = used || asked;
    b.textContent = asked ? 'Relance demandée' : 'Réessayer';
    b.title = used ? `Les ${MAX_RETRIES} tentatives sont utilisées` : '';
  }

  function renderUploads() {
    const list = stableOrder('uploads', sortedUploads(), state.uploads, MAX_CARDS + state.extraCards);
    const users = userStates(list);
    const active = list.filter((c) => c.status === 'uploading' || c.status === 'pending').length;
    $('uploads-count').textContent = list.length
      ? `(${active} actif${active > 1 ? 's' : ''} · ${list.length} affiché${list.length > 1 ? 's' : ''})` : '';
    const userOf = (card) => users.get(card.userId || card.userEmail || card.id);
    renderKeyed($('uploads'), 'uploads', list, () => createCardView(),
      (view, card) => updateCardView(view, card, userOf(card)),
      (card) => `${JSON.stringify(card)}|${userOf(card)}|${retryPending(card)}`,
      'Aucun upload dans les dernières 24h');
    // The snapshot holds at most MAX_CARDS: only a full list can have more behind it.
    $('more').hidden = state.nextCursor === null || list.length < MAX_CARDS;
  }

  function agoSpan(ts) {
    const span = el('span', 'ago', agoCapitalized(ts));
    span.dataset.ago = ts || '';
    span.title = dateTime(ts);
    return span;
  }

  function bugBadges(bug) {
    const badges = el('div', 'item-badges');
    badges.append(el('span', `badge sev-${bug.severity || 'none'}`, severityLabel(bug.severity)),
      el('span', 'badge', bugStatusLabel(bug.status)));
    return badges;
  }

  function clickable(row, open) {
    row.classList.add('clickable');
    row.tabIndex = 0;
    row.addEventListener('click', open);
    row.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); }
    });
  }

  function createBugRow() {
    const view = { root: el('div', 'list-item') };
    clickable(view.root, () => openBugDetails(view.item));
    return view;
  }

  function updateBugRow(view, bug) {
    view.item = bug;
    const icon = el('span', 'item-icon', bugTypeIcon(bug.error_type));
    icon.title = bugTypeLabel(bug.error_type);
    const main = el('div', 'item-main');
    const message = el('div', 'item-message', truncate(bug.error_message, 60));
    message.title = bug.error_message || '';
    const meta = el('div', 'item-meta');
    meta.append(el('span', 'shrink', bug.user_email || 'Utilisateur inconnu'),
      el('span', 'sep', '·'), agoSpan(bug.created_at));
    main.append(message, meta);
    view.root.setAttribute('aria-label', `Bug : ${truncate(bug.error_message, 60)}`);
    view.root.replaceChildren(icon, main, bugBadges(bug));
  }

  function renderBugs() {
    const list = stableOrder('bugs', sortedBugs(), state.bugs, MAX_BUGS);
    renderKeyed($('bugs'), 'bugs', list, createBugRow, updateBugRow, (b) => JSON.stringify(b),
      'Aucun bug dans les dernières 24h');
  }

  // One line of an error tab: email, video title, message, time, a type badge, "Détails".
  function createErrorRow() {
    return { root: el('div', 'list-item') };
  }

  function updateErrorRow(view, { icon, message, email, title, at, badge, open }) {
    const main = el('div', 'item-main');
    main.append(el('div', 'item-message', message));
    if (title) main.append(el('div', 'item-title', `🎬 ${title}`));
    const meta = el('div', 'item-meta');
    meta.append(el('span', 'shrink', email || 'Utilisateur inconnu'), el('span', 'sep', '·'),
      agoSpan(at));
    main.append(meta);
    const side = el('div', 'item-badges');
    const details = button('Détails', '', open);
    details.setAttribute('aria-label', `Détails : ${truncate(title || message, 40)}`);
    side.append(el('span', 'badge', badge), details);
    view.root.replaceChildren(el('span', 'item-icon', icon), main, side);
  }

  function fillTab(name, countId, rows, emptyText) {
    $(countId).textContent = rows.length ? `(${rows.length})` : '';
    renderKeyed($(`tab-${name}`), name, rows, createErrorRow, (view, row) => updateErrorRow(view, row),
      (row) => row.sig, emptyText);
  }

  function renderErrorTabs() {
    fillTab('upload-errors', 'count-upload-errors',
      stableOrder('upload-errors', sortedNewestFirst(state.uploadErrors, finishedAt), state.uploadErrors, MAX_TAB_ROWS)
        .map((card) => ({
          id: card.id,
          sig: JSON.stringify(card),
          icon: '🚫',
          message: card.errorMessage || 'Échec sans message',
          email: card.userEmail,
          title: card.videoTitle || card.filename,
          at: finishedAt(card),
          badge: card.errorCode ? errorCodeLabel(card.errorCode) : 'Upload',
          open: () => openUploadDetails(card),
        })), 'Aucun upload en échec (7 jours)');
    fillTab('transcription-errors', 'count-transcription-errors',
      stableOrder('transcription-errors', sortedNewestFirst(state.transcriptionErrors, (j) => j.created_at),
        state.transcriptionErrors, MAX_TAB_ROWS)
        .map((job) => ({
          id: job.id,
          sig: JSON.stringify(job),
          icon: '🔴',
          message: job.error_message || 'Transcription en échec',
          email: job.email,
          title: job.title,
          at: job.created_at,
          badge: 'Transcription',
          open: () => openTranscriptionDetails(job),
        })), 'Aucune transcription en échec (7 jours)');
    fillTab('network-errors', 'count-network-errors',
      stableOrder('network-errors', sortedNewestFirst(state.networkErrors, (b) => b.created_at),
        state.networkErrors, MAX_TAB_ROWS)
        .map((bug) => ({
          id: bug.id,
          sig: JSON.stringify(bug),
          icon: bugTypeIcon(bug.error_type),
          message: bug.error_message,
          email: bug.user_email,
          title: bug.screen_name,
          at: bug.created_at,
          badge: bugTypeLabel(bug.error_type),
          open: () => openBugDetails(bug),
        })), 'Aucune erreur réseau (24h)');
  }

  // Every second: running times and "il y a" labels move on without new data.
  function tick() {
    for (const view of rowViews.uploads.values()) view.time.textContent = timeLine(view.card);
    for (const span of document.querySelectorAll('[data-ago]')) {
      span.textContent = agoCapitalized(span.dataset.ago);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Details modal
  // ---------------------------------------------------------------------------------------

  // Which modal content is current: a late answer for a closed or replaced modal is dropped.
  let modalToken = 0;

  function openModal(title) {
    modalToken += 1;
    $('details-title').textContent = title;
    const body = $('details-body');
    body.replaceChildren();
    const dialog = $('details');
    if (!dialog.open) dialog.showModal();
    return { body, token: modalToken };
  }

  function facts(pairs) {
    const list = el('dl', 'facts');
    for (const [label, value] of pairs) {
      if (value === undefined || value === null || value === '') continue;
      list.append(el('dt', '', label), el('dd', '', value));
    }
    return list;
  }

  function jsonBlock(label, value) {
    if (value === undefined || value === null) return [];
    if (typeof value === 'object' && Object.keys(value).length === 0) return [];
    return [el('h3', '', label), el('pre', 'json', typeof value === 'string' ? value : JSON.stringify(value, null, 2))];
  }

  function cardFacts(card) {
    const st = statusOf(card);
    return facts([
      ['Utilisateur', card.userEmail || 'Utilisateur inconnu'],
      ['Vidéo', card.videoTitle],
      ['Fichier', card.filename],
      ['Statut', `${st.icon} ${st.label}`],
      ['Étape', STAGE[card.stage] || card.stage],
      ['Progression', `${Number(card.progress) || 0}%`],
      ['Taille', sizeMb(card.fileSize)],
      ['Vitesse', typeof card.uploadSpeed === 'number' ? `${card.uploadSpeed.toFixed(2)} MB/s` : null],
      ['Tentatives', `${Number(card.retryCount) || 0}/${MAX_RETRIES}`],
      ['Type', SOURCE[card.source]],
      ['Durée', typeof card.duration === 'number' ? formatElapsed(card.duration) : null],
      ['Début', dateTime(card.startedAt)],
      ['Fin', card.completedAt ? dateTime(card.completedAt) : null],
      ['Dernier rapport', card.updatedAt ? dateTime(card.updatedAt) : null],
      ['Erreur', card.errorMessage ? `${card.errorCode ? `${errorCodeLabel(card.errorCode)} : ` : ''}${card.errorMessage}` : null],
      ['Transcription', TRANSCRIPTION[card.transcriptionStatus] || card.transcriptionStatus],
      ['Origine', card.origin === 'videos' ? 'Déduit de videos (Phase 1)' : 'upload_queue (SDK)'],
      ['Identifiant', card.id],
      ['Id local', card.localId],
    ]);
  }

  function logTable(events) {
    const table = el('table', 'log');
    const head = el('tr');
    for (const h of ['Heure', 'Seq', 'Événement', 'Statut', 'Étape', 'Progression', 'Vitesse', 'Erreur']) {
      head.append(el('th', '', h));
    }
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    for (const e of events) {
      const row = el('tr');
      const error = e.errorMessage ? `${e.errorCode ? `${errorCodeLabel(e.errorCode)} : ` : ''}${e.errorMessage}` : (e.errorCode ? errorCodeLabel(e.errorCode) : '');
      row.append(
        el('td', '', dateTime(e.createdAt)),
        el('td', 'num', e.seq),
        el('td', '', EVENT_KIND[e.kind] || e.kind),
        el('td', '', statusOf(e).label),
        el('td', '', STAGE[e.stage] || e.stage || ''),
        el('td', 'num', typeof e.progress === 'number' ? `${e.progress}%` : ''),
        el('td', 'num', typeof e.uploadSpeed === 'number' ? `${e.uploadSpeed.toFixed(1)} MB/s` : ''),
        el('td', 'msg', error),
      );
      tbody.append(row);
    }
    table.append(thead, tbody);
    return table;
  }

  async function openUploadDetails(card) {
    const { body, token } = openModal(`Détails — ${card.videoTitle || card.filename || card.id}`);
    const factsNode = cardFacts(card);
    const logTitle = el('h3', '', 'Journal des événements');
    const log = el('div', 'empty', 'Chargement du journal…');
    body.append(factsNode, logTitle, log, ...jsonBlock('Métadonnées', card.metadata));
    if (card.status === 'failed' && card.origin !== 'videos') {
      const b = button('Réessayer', 'primary', () => requestRetry(card, b));
      configureRetry(b, card);
      body.insertBefore(b, logTitle);
    }
    try {
      const response = await api(`/api/uploads/${encodeURIComponent(card.id)}/events`,
        { headers: { Accept: 'application/json' } });
      const answer = await response.json().catch(() => ({}));
      if (token !== modalToken) return;
      if (!response.ok) {
        log.textContent = response.status === 404 && card.origin === 'videos'
          ? "Pas de journal : cette carte est déduite de la table videos (l'app ne rapporte pas encore ses uploads)."
          : `Journal indisponible : ${answer.message || `HTTP ${response.status}`}`;
        return;
      }
      if (answer.upload) factsNode.replaceWith(cardFacts(answer.upload));
      const events = answer.events || [];
      const parts = [];
      if (answer.truncated) {
        parts.push(el('p', 'count', `Les ${events.length} derniers événements sur ${answer.eventCount}.`));
      }
      parts.push(events.length ? logTable(events) : el('div', 'empty', 'Aucun événement enregistré.'));
      log.replaceWith(...parts);
    } catch (e) {
      if (token === modalToken) log.textContent = `Journal indisponible : ${e.message}`;
    }
  }

  function openBugDetails(bug) {
    const { body } = openModal(`${bugTypeIcon(bug.error_type)} Bug — ${truncate(bug.error_message, 60)}`);
    body.append(
      facts([
        ['Message', bug.error_message],
        ['Type', bug.error_type ? bugTypeLabel(bug.error_type) : null],
        ['Sévérité', bug.severity ? severityLabel(bug.severity) : null],
        ['Statut', bugStatusLabel(bug.status)],
        ['Utilisateur', bug.user_email],
        ['Écran', bug.screen_name],
        ['Composant', bug.component_name],
        ['Action', bug.action],
        ['Version', bug.app_version],
        ['Date', `${dateTime(bug.created_at)} (${ago(bug.created_at)})`],
        ['Identifiant', bug.id],
      ]),
      ...jsonBlock('Stack', bug.error_stack),
      ...jsonBlock('Appareil', bug.device_info),
      ...jsonBlock('Métadonnées', bug.metadata),
    );
  }

  function openTranscriptionDetails(job) {
    const { body } = openModal(`🔴 Transcription — ${job.title || job.video_id || job.id}`);
    body.append(facts([
      ['Vidéo', job.title],
      ['Utilisateur', job.email],
      ['Statut', TRANSCRIPTION[job.status] || job.status],
      ['Erreur', job.error_message],
      ['Langue', job.language],
      ['AssemblyAI', job.assembly_ai_id],
      ['Créé', dateTime(job.created_at)],
      ['Mis à jour', job.updated_at ? dateTime(job.updated_at) : null],
      ['Vidéo (id)', job.video_id],
      ['Identifiant', job.id],
    ]));
  }

  // ---------------------------------------------------------------------------------------
  // Actions, status line, stream
  // ---------------------------------------------------------------------------------------

  let toastTimer = null;
  function toast(message, isError) {
    const node = $('toast');
    node.textContent = message;
    node.classList.toggle('error', Boolean(isError));
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, 5000);
  }

  async function requestRetry(card, b) {
    b.disabled = true;
    b.textContent = 'Envoi…';
    try {
      const response = await api(`/api/uploads/${encodeURIComponent(card.id)}/retry`,
        { method: 'POST', headers: { Accept: 'application/json' } });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
      state.retried.set(card.id, answer.retryRequestedAt || new Date(serverNow()).toISOString());
      saveRetried();
      toast("Nouvelle tentative demandée : l'appareil relancera l'upload à sa prochaine connexion.");
    } catch (e) {
      toast(`Réessayer a échoué : ${e.message}`, true);
    } finally {
      configureRetry(b, card);
      renderUploads();
    }
  }

  function setLive(mode, text, detail) {
    const live = $('live');
    live.dataset.state = mode;
    $('live-text').textContent = text;
    live.title = detail || '';
  }

  function showBanner(message) {
    const banner = $('banner');
    banner.textContent = message;
    banner.hidden = false;
  }

  function hideBanner() {
    $('banner').hidden = true;
    document.body.classList.remove('is-stale');
  }

  // The server stopped answering (its process died, the network dropped): say so at once,
  // and grey the figures, which no longer move.
  function markStale(reason) {
    if (document.body.classList.contains('is-stale')) return;
    document.body.classList.add('is-stale');
    const since = state.lastMessageAt
      ? ` depuis ${new Date(state.lastMessageAt).toLocaleTimeString('fr-FR')}` : '';
    setLive('error', 'Hors ligne', reason);
    showBanner(`⚠️ ${reason} : les chiffres affichés sont figés${since}.`);
  }

  function watchSilence() {
    if (state.lastMessageAt && Date.now() - state.lastMessageAt > SILENCE_MS) {
      markStale('Le serveur du dashboard ne donne plus de nouvelles');
    }
  }

  // Every API call: a 401 means the session ended (logout elsewhere, Supabase refused its
  // refresh, the server restarted), so the page goes to the sign-in form.
  async function api(url, options) {
    const response = await fetch(url, options);
    if (response.status === 401) location.assign('/login');
    return response;
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (e) {
      return null;
    }
  }

  // The stream was refused (EventSource does not retry a non-200): say why, retry later.
  async function explainRefusal() {
    try {
      const response = await api('/api/snapshot', { headers: { Accept: 'application/json' } });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) applySnapshot(answer);
      else showBanner(answer.message || `Le serveur a répondu HTTP ${response.status}`);
    } catch (e) {
      showBanner('Le serveur du dashboard ne répond pas.');
    }
  }

  function connect() {
    setLive('connecting', 'Connexion…');
    const source = new EventSource('/api/stream');
    const live = () => {
      state.lastMessageAt = Date.now();
      setLive('live', 'Live', `Mis à jour ${new Date().toLocaleTimeString('fr-FR')}`);
      hideBanner();
    };
    source.addEventListener('snapshot', (event) => {
      const snapshot = parse(event);
      if (snapshot) { applySnapshot(snapshot); live(); }
    });
    source.addEventListener('changes', (event) => {
      const changes = parse(event);
      if (changes) { applyChanges(changes); live(); }
    });
    source.addEventListener('feed_error', (event) => {
      const problem = parse(event) || {};
      state.lastMessageAt = Date.now();
      document.body.classList.remove('is-stale');
      markStale(`Supabase ne répond pas (${problem.message || 'erreur inconnue'})`);
    });
    source.onerror = () => {
      markStale('Connexion au serveur du dashboard perdue');
      if (source.readyState === EventSource.CLOSED) {
        explainRefusal();
        setTimeout(connect, RECONNECT_MS);
      } else {
        $('live-text').textContent = 'Hors ligne, reconnexion…';
      }
    };
  }

  // WAI-ARIA tabs: one tab in the Tab order, arrows / Home / End move between them.
  function setUpTabs() {
    const tabs = [...document.querySelectorAll('.tab')];
    const select = (tab, focus) => {
      state.tab = tab.dataset.tab;
      for (const other of tabs) {
        const selected = other === tab;
        other.setAttribute('aria-selected', String(selected));
        other.tabIndex = selected ? 0 : -1;
        $(`tab-${other.dataset.tab}`).hidden = !selected;
      }
      if (focus) tab.focus();
    };
    tabs.forEach((tab, i) => {
      tab.addEventListener('click', () => select(tab, false));
      tab.addEventListener('keydown', (event) => {
        const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
        if (!(event.key in moves)) return;
        event.preventDefault();
        select(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
      });
    });
  }

  // Pause / resume, and the hold while the pointer or focus is inside a list.
  function setUpLists() {
    const pause = $('pause');
    pause.addEventListener('click', () => {
      state.paused = !state.paused;
      pause.setAttribute('aria-pressed', String(state.paused));
      pause.textContent = state.paused ? '▶️ Reprendre' : '⏸️ Pause';
      $('pause-state').textContent = state.paused ? 'En pause : la liste ne bouge plus' : '';
      state.pendingWhilePaused = 0;
      if (!state.paused) renderLists();
    });
    const lists = { uploads: $('uploads'), bugs: $('bugs') };
    for (const name of ['upload-errors', 'transcription-errors', 'network-errors']) lists[name] = $(`tab-${name}`);
    for (const [name, container] of Object.entries(lists)) {
      const release = () => {
        if (container.matches(':hover') || container.contains(document.activeElement)) return;
        if (state.holding.delete(name)) renderLists();
      };
      container.addEventListener('pointerenter', () => state.holding.add(name));
      container.addEventListener('pointerleave', release);
      container.addEventListener('focusin', () => state.holding.add(name));
      container.addEventListener('focusout', () => setTimeout(release, 0));
    }
    $('more').addEventListener('click', loadMore);
  }

  // "Voir plus": the next pages of monitoring_uploads (newest start first), cards this page
  // does not show yet added at the bottom.
  async function loadMore() {
    const b = $('more');
    b.disabled = true;
    b.textContent = 'Chargement…';
    try {
      let added = 0;
      for (let pages = 0; pages < 5 && added === 0 && state.nextCursor !== null; pages += 1) {
        const cursor = state.nextCursor;
        const query = cursor ? `?before_started_at=${encodeURIComponent(cursor.startedAt)}&before_id=${encodeURIComponent(cursor.id)}` : '';
        const response = await api(`/api/uploads${query}`, { headers: { Accept: 'application/json' } });
        const answer = await response.json().catch(() => ({}));
        if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
        state.nextCursor = answer.nextCursor || null;
        const fresh = (answer.items || []).filter((card) => !state.uploads.has(card.id));
        for (const card of fresh) state.uploads.set(card.id, card);
        // Older uploads go to the bottom, in the list's order, not to the top as live ones do.
        state.order.uploads.push(...fresh.map((card) => card.id));
        state.extraCards += fresh.length;
        added += fresh.length;
      }
      if (!added) toast('Aucun upload plus ancien.');
    } catch (e) {
      toast(`Voir plus a échoué : ${e.message}`, true);
    } finally {
      b.disabled = false;
      b.textContent = 'Voir plus';
      renderUploads();
    }
  }

  function setUpHeader() {
    const base = CONFIG.adminBaseUrl;
    if (!base) return;
    $('admin-dashboard').href = `${base}/`;
    $('admin-bugs').href = `${base}/bugs`;
    $('admin-links').hidden = false;
  }

  function setUpModal() {
    const dialog = $('details');
    $('details-close').addEventListener('click', () => dialog.close());
    // A click on the backdrop (outside the box) closes it too.
    dialog.addEventListener('click', (event) => { if (event.target === dialog) dialog.close(); });
    dialog.addEventListener('close', () => { modalToken += 1; });
  }

  // The formats above, for the browser test that holds them to monitor-core's.
  window.monitoringFormat = { ago, initials, sizeMb, formatElapsed, eta, retryBadge };

  document.addEventListener('DOMContentLoaded', () => {
    setUpHeader();
    setUpTabs();
    setUpModal();
    setUpLists();
    connect();
    setInterval(() => { tick(); watchSilence(); }, 1000);
  });
})();

// movierec web page: plain JS, no build step. Every title is written with textContent, never parsed as HTML,
// inside a <bdi> so bidirectional controls in a title (U+202E...) cannot reorder the text around it.
"use strict";

const API = "/v1";
const USER_KEY = "movierec.user";
const TOKEN_KEY = "movierec.token"; // the user's secret token: shown once by POST /v1/users, kept only here
const state = { userId: null, token: null, mine: new Map(), guardTimer: null };

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("aria-") || k === "role") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" } };
  if (state.token && path.startsWith("/users/")) opts.headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, opts);
  if (res.status === 204) return null;
  const data = await res.json();
  if (!res.ok) {
    const err = new Error((data.error && data.error.message) || res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const titleNode = (title) => el("bdi", { className: "title", text: title });

function describe(m) {
  const bits = [];
  if (m.year) bits.push(String(m.year));
  if (m.genres && m.genres.length) bits.push(m.genres.join(", "));
  bits.push(plural(m.n_ratings, "rating"));
  return bits.join(" · ");
}

// Half stars, as the API takes them (0.5 to 5): a 4.5 set anywhere lights its own button.
const STEPS = [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5];
const starText = (s) => "★".repeat(Math.floor(s)) + (s % 1 ? "½" : "");

function starButtons(movie, current) {
  const group = el("div", { className: "stars", role: "group", "aria-label": `Rate ${movie.title}` });
  for (const s of STEPS) {
    const b = el("button", { type: "button", text: starText(s) });
    b.setAttribute("aria-label", `${s} star${s === 1 ? "" : "s"}`);
    b.setAttribute("aria-pressed", String(current === s));
    b.dataset.stars = String(s);
    b.addEventListener("click", () => rate(movie, s));
    group.append(b);
  }
  return group;
}

function filmItem(movie, extra) {
  const li = el("li");
  li.dataset.movieId = String(movie.movie_id);
  li.append(titleNode(movie.title), el("span", { className: "meta", text: describe(movie) }));
  if (extra) li.append(extra);
  return li;
}

// "Because you rated A (5★) and B (4★)", each title isolated; the server's sentence when there is no reason.
function why(r) {
  const node = el("span", { className: "why" });
  if (!r.because || !r.because.length) {
    node.textContent = r.explanation;
    return node;
  }
  node.append("Because you rated ");
  r.because.forEach((b, i) => {
    if (i) node.append(" and ");
    node.append(el("bdi", { text: b.title }), ` (${b.rating}★)`);
  });
  return node;
}

async function search(event) {
  if (event) event.preventDefault();
  const q = $("query").value.trim();
  $("search-status").textContent = "Searching…";
  try {
    const page = await api("GET", `/movies?query=${encodeURIComponent(q)}&limit=20`);
    const list = $("results");
    list.replaceChildren(...page.movies.map((m) => filmItem(m, starButtons(m, state.mine.get(m.movie_id)?.rating))));
    $("search-status").textContent = q
      ? `${plural(page.total, "film")} found` + (page.total > 20 ? ", showing the 20 most rated" : "")
      : "Popular films to rate: the 20 most rated. Search for others above.";
  } catch (err) {
    $("search-status").textContent = `Search failed: ${err.message}`;
  }
}

async function rate(movie, stars) {
  try {
    await ensureUser();
    const r = await api("PUT", `/users/${state.userId}/ratings/${movie.movie_id}`, { rating: stars });
    state.mine.set(movie.movie_id, { ...movie, rating: r.rating });
    for (const b of document.querySelectorAll(`li[data-movie-id="${movie.movie_id}"] .stars button`)) {
      b.setAttribute("aria-pressed", String(Number(b.dataset.stars) === stars));
    }
    renderMine();
    await loadRecs();
  } catch (err) {
    $("recs-status").textContent = `Could not save the rating: ${err.message}`;
  }
}

async function unrate(movieId) {
  try {
    await api("DELETE", `/users/${state.userId}/ratings/${movieId}`);
  } catch (err) {
    $("recs-status").textContent = `Could not remove the rating: ${err.message}`;
    return;
  }
  state.mine.delete(movieId);
  renderMine();
  await loadRecs();
}

function renderMine() {
  const items = [...state.mine.values()].map((m) => {
    const remove = el("button", { type: "button", className: "link", text: "remove" });
    remove.setAttribute("aria-label", `Remove your rating of ${m.title}`);
    remove.addEventListener("click", () => unrate(m.movie_id));
    const li = el("li");
    li.dataset.movieId = String(m.movie_id);
    li.append(titleNode(m.title), " ", el("span", { className: "meta", text: `your rating: ${m.rating} ★` }), remove);
    return li;
  });
  $("mine").replaceChildren(...items);
  $("mine-empty").hidden = items.length > 0;
}

// "Not interested": tells the service (POST /v1/events, the answer's request_id) and hides the film.
function dismissButton(requestId, r, li) {
  const b = el("button", { type: "button", className: "dismiss", text: "Not interested" });
  b.setAttribute("aria-label", `Not interested in ${r.title}`);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await api("POST", "/events", { request_id: requestId, movie_id: r.movie_id, type: "dismissed" });
      li.remove();
    } catch (err) {
      b.disabled = false;
      $("recs-status").textContent = `Could not send that: ${err.message}`;
    }
  });
  return b;
}

async function loadRecs() {
  const guard = $("min-ratings").value;
  if (state.mine.size === 0) {
    $("recs").replaceChildren();
    $("recs-status").textContent = "Rate films to get recommendations.";
    return;
  }
  $("recs-status").textContent = "Updating…";
  try {
    const res = await api("GET", `/users/${state.userId}/recommendations?k=10&min_ratings=${guard}`);
    $("recs").replaceChildren(...res.recommendations.map((r) => {
      const li = filmItem(r, why(r));
      li.querySelector(".meta").textContent = `predicted ${r.predicted_rating.toFixed(1)} ★ · ${describe(r)}`;
      li.append(dismissButton(res.request_id, r, li));
      return li;
    }));
    const ignored = res.ignored_movie_ids.length;
    $("recs-status").textContent = (res.recommendations.length
      ? `${plural(res.recommendations.length, "film")} (model ${res.model_version}).`
      : "No film to recommend.")
      + (res.note ? ` Why: ${res.note}.` : "")  // the service says why a list is short
      + (ignored ? ` ${ignored} of your rated films ${ignored === 1 ? "is" : "are"} new to this model and not used until it is retrained.` : "");
  } catch (err) {
    $("recs-status").textContent = `Could not load recommendations: ${err.message}`;
  }
}

function forgetUser() {
  localStorage.removeItem(USER_KEY);
  localStorage.removeItem(TOKEN_KEY);
  state.userId = null;
  state.token = null;
}

// A returning visitor's ratings, if this browser has rated before (no user is created by a visit).
// An id saved without a token (by the page before tokens) cannot be used any more: a fresh user then.
async function restoreUser() {
  const saved = Number(localStorage.getItem(USER_KEY));
  const token = localStorage.getItem(TOKEN_KEY);
  if (!(Number.isInteger(saved) && saved > 0 && token)) {
    forgetUser();
    return;
  }
  state.token = token;
  try {
    const res = await api("GET", `/users/${saved}/ratings`);
    state.userId = saved;
    for (const r of res.ratings) {
      state.mine.set(r.movie_id, { movie_id: r.movie_id, title: r.title || `movie ${r.movie_id}`, rating: r.rating });
    }
  } catch (err) {
    // The user is gone (a new database) or the token no longer works: a new user at the first rating.
    if ([401, 403, 404].includes(err.status)) forgetUser();
    else throw err;
  }
}

// The visitor's user id and token, created at their first rating.
async function ensureUser() {
  if (state.userId !== null) return;
  const created = await api("POST", "/users");
  state.userId = created.user_id;
  state.token = created.token;
  localStorage.setItem(USER_KEY, String(created.user_id));
  localStorage.setItem(TOKEN_KEY, created.token);
  $("whoami").textContent = `(you are user ${state.userId})`;
}

async function start() {
  $("search-form").addEventListener("submit", search);
  $("min-ratings").addEventListener("input", () => {
    $("min-ratings-value").textContent = $("min-ratings").value;
    clearTimeout(state.guardTimer);
    state.guardTimer = setTimeout(loadRecs, 250);
  });
  $("reset").addEventListener("click", () => {
    forgetUser();
    location.reload();
  });
  try {
    await restoreUser();
  } catch (err) {
    $("recs-status").textContent = `The service is not available: ${err.message}`;
    return;
  }
  try {
    const model = await api("GET", "/model");
    if (Number.isInteger(model.config.min_ratings)) {
      $("min-ratings").value = String(model.config.min_ratings);
      $("min-ratings-value").textContent = String(model.config.min_ratings);
    }
  } catch (err) {
    // No model yet: keep the default guard; recommendations will say why they fail.
  }
  if (state.userId !== null) $("whoami").textContent = `(you are user ${state.userId})`;
  renderMine();
  await Promise.all([loadRecs(), search()]);
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);

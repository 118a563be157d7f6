// The API Tokens page. Plain script, no framework and no build step: it is
// shipped inside the package and served under a strict Content-Security-
// Policy, so it never writes HTML from data (every stored value goes through
// textContent) and never sets inline styles.
//
// Every URL is relative ("keys", "meta", …): the page works under whatever
// mount point the host app chose.
"use strict";

(function () {
  var $ = function (id) { return document.getElementById(id); };
  var SVG = "http://www.w3.org/2000/svg";
  var DAY = 86400000;
  var STATUS_LABEL = { active: "Active", inactive: "Inactive", expired: "Expired", revoked: "Revoked" };
  var ACTION_LABEL = {
    issued: "Created", updated: "Updated", regenerated: "Regenerated", deactivated: "Deactivated",
    activated: "Activated", revoked: "Revoked", deleted: "Deleted", leaked: "Reported leaked"
  };
  var PRESETS = [["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"], ["365d", "1 year"]];

  var state = { meta: null, next: null, status: "", keys: {} };

  // ---- talking to the API -------------------------------------------------

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return null;
  }

  // Resolves with the parsed JSON body; rejects with an Error whose message
  // is the problem's detail (RFC 9457) or a plain description.
  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    var init = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      // Django's CSRF middleware reads this header; other hosts ignore it.
      var csrf = cookie("csrftoken");
      if (csrf) headers["X-CSRFToken"] = csrf;
      init.body = JSON.stringify(body || {});
    }
    return fetch(path, init).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var parsed = /json/.test(type) ? response.json().catch(function () { return null; }) : Promise.resolve(null);
      return parsed.then(function (data) {
        if (response.ok && data !== null) return data;
        var message;
        if (data && (data.detail || data.title)) {
          message = data.detail || data.title;
        } else if (response.ok) {
          message = "The server sent an answer this page cannot read.";
        } else {
          message = "The server answered " + response.status + (response.statusText ? " " + response.statusText : "") + ".";
        }
        if (response.status === 401) message = "You are not signed in (or your session ended). " + message;
        var error = new Error(message);
        error.status = response.status;
        error.code = data && data.code;
        throw error;
      });
    }, function () {
      throw new Error("Could not reach the server. Check your connection and try again.");
    });
  }

  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      if (params[k] !== null && params[k] !== undefined && params[k] !== "") {
        parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(params[k]));
      }
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  function keyPath(id, rest) {
    return "keys/" + encodeURIComponent(id) + (rest ? "/" + rest : "");
  }

  // ---- small DOM helpers (text only) -------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function showError(node, error) {
    node.textContent = error ? (error.message || String(error)) : "";
    node.hidden = !error;
  }

  function formatDate(iso) {
    if (!iso) return null;
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  }

  function formatDateTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function timeNode(iso, fallback, withTime) {
    if (!iso) return document.createTextNode(fallback);
    var t = el("time", null, withTime ? formatDateTime(iso) : formatDate(iso));
    t.dateTime = iso;
    t.title = iso;
    return t;
  }

  function setContent(node, child) {
    node.textContent = "";
    node.appendChild(child);
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function copyText(text, input) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text, input); });
    }
    return legacyCopy(text, input);
  }

  function legacyCopy(text, input) {
    var field = input;
    if (!field) {
      field = el("textarea", "visually-hidden");
      field.value = text;
      field.setAttribute("aria-hidden", "true");
      document.body.appendChild(field);
    }
    field.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    if (field !== input) field.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("Copy is not available here: select the text and copy it yourself."));
  }

  // ---- dialogs -------------------------------------------------------------

  function openDialog(dialog) {
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
  }

  function closeDialog(dialog) {
    if (typeof dialog.close === "function") dialog.close();
    else dialog.removeAttribute("open");
  }

  Array.prototype.forEach.call(document.querySelectorAll("dialog [data-close]"), function (button) {
    button.addEventListener("click", function () { closeDialog(button.closest("dialog")); });
  });

  function showToken(token, title) {
    $("token-title").textContent = title;
    $("token-value").value = token;
    $("token-copied").textContent = "";
    openDialog($("token-dialog"));
    $("token-value").focus();
    $("token-value").select();
  }

  // The token leaves the DOM as soon as the dialog closes.
  $("token-dialog").addEventListener("close", function () { $("token-value").value = ""; });

  $("token-copy").addEventListener("click", function () {
    var input = $("token-value");
    copyText(input.value, input).then(function () {
      $("token-copied").textContent = "Copied to the clipboard.";
    }, function (error) {
      $("token-copied").textContent = error.message;
    });
  });

  // ---- the create dialog ---------------------------------------------------

  function selectedKind() {
    var kinds = (state.meta && state.meta.kinds) || [];
    var name = $("create-kind").value || (state.meta && state.meta.default_kind);
    for (var i = 0; i < kinds.length; i++) if (kinds[i].name === name) return kinds[i];
    return kinds[0] || null;
  }

  function durationMs(text) {
    var m = /^(\d+)\s*(s|m|h|d|w)$/.exec(String(text || "").trim());
    if (!m) return null;
    var unit = { s: 1000, m: 60000, h: 3600000, d: DAY, w: 7 * DAY }[m[2]];
    return Number(m[1]) * unit;
  }

  function fillKindOptions() {
    var kind = selectedKind();
    var expiry = $("create-expiry");
    expiry.textContent = "";
    var max = kind ? durationMs(kind.max_lifetime) : null;
    if (kind && kind.default_lifetime) {
      expiry.appendChild(new Option("Default (" + kind.default_lifetime + ")", ""));
    } else if (!max) {
      expiry.appendChild(new Option("Never", ""));
    }
    PRESETS.forEach(function (p) {
      if (!max || durationMs(p[0]) <= max) expiry.appendChild(new Option(p[1], p[0]));
    });
    expiry.appendChild(new Option("On a date…", "date"));
    $("create-date-field").hidden = true;

    var list = $("create-scope-list");
    list.textContent = "";
    var scopes = (kind && kind.scopes) || [];
    var defaults = (kind && kind.default_scopes) || [];
    scopes.forEach(function (scope, i) {
      var id = "scope-" + i;
      var row = el("p", "scope");
      var box = el("input");
      box.type = "checkbox";
      box.id = id;
      box.value = scope;
      box.checked = defaults.indexOf(scope) >= 0;
      var label = el("label", null, scope);
      label.htmlFor = id;
      row.appendChild(box);
      row.appendChild(label);
      list.appendChild(row);
    });
    $("create-scopes").hidden = scopes.length === 0;
  }

  $("create-kind").addEventListener("change", fillKindOptions);
  $("create-expiry").addEventListener("change", function () {
    var dated = $("create-expiry").value === "date";
    $("create-date-field").hidden = !dated;
    if (dated) $("create-date").focus();
  });

  $("create-open").addEventListener("click", function () {
    $("create-form").reset();
    fillKindOptions();
    showError($("create-error"), null);
    openDialog($("create-dialog"));
    $("create-name").focus();
  });

  $("create-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var name = $("create-name").value.trim();
    if (!name) {
      showError($("create-error"), new Error("Give the token a name."));
      $("create-name").focus();
      return;
    }
    var body = { name: name };
    var kind = selectedKind();
    if (!$("create-kind-field").hidden && kind) body.kind = kind.name;
    var expiry = $("create-expiry").value;
    if (expiry === "date") {
      var day = $("create-date").value;
      if (!day) {
        showError($("create-error"), new Error("Pick the day the token expires."));
        $("create-date").focus();
        return;
      }
      body.expires_at = day + "T23:59:59Z";
    } else if (expiry) {
      body.expires_in = expiry;
    }
    if (!$("create-scopes").hidden) {
      body.scopes = Array.prototype.map.call(
        $("create-scope-list").querySelectorAll("input:checked"), function (b) { return b.value; });
    }
    var submit = $("create-submit");
    submit.disabled = true;
    api("POST", "keys", body).then(function (answer) {
      closeDialog($("create-dialog"));
      var card = null;
      if (!state.status || state.status === answer.key.status) {
        card = renderCard(answer.key);
        var cards = $("cards");
        cards.insertBefore(card, cards.firstChild);
        updateEmpty();
      }
      showToken(answer.token, "Your new token");
      // Once the token has been read, focus moves to its card.
      $("token-dialog").addEventListener("close", function () {
        if (card && card.isConnected) card.querySelector(".card-name").focus();
        else $("create-open").focus();
      }, { once: true });
    }, function (error) {
      showError($("create-error"), error);
    }).then(function () { submit.disabled = false; });
  });

  // ---- the confirm dialog (Regenerate, Revoke) --------------------------------

  var pending = null;

  function confirmAction(options) {
    pending = options;
    $("confirm-title").textContent = options.title;
    $("confirm-text").textContent = options.text;
    $("confirm-submit").textContent = options.verb;
    $("confirm-grace-field").hidden = !options.grace;
    $("confirm-grace").value = "";
    showError($("confirm-error"), null);
    openDialog($("confirm-dialog"));
    $("confirm-submit").focus();
  }

  $("confirm-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!pending) return;
    var action = pending;
    var submit = $("confirm-submit");
    submit.disabled = true;
    action.run($("confirm-grace").value).then(function (result) {
      pending = null;
      closeDialog($("confirm-dialog"));
      action.after(result);
    }, function (error) {
      showError($("confirm-error"), error);
    }).then(function () { submit.disabled = false; });
  });

  // ---- cards ---------------------------------------------------------------

  function replaceCard(key, focusLabel) {
    var old = document.querySelector('.card[data-id="' + CSS.escape(key.id) + '"]');
    var card = renderCard(key);
    if (old) old.replaceWith(card);
    if (focusLabel) {
      var target = card.querySelector('[data-action="' + focusLabel + '"]') || card.querySelector(".card-name");
      target.focus();
    }
    return card;
  }

  function actionButton(card, key, label, handler) {
    var button = el("button", label === "Revoke" ? "danger" : null, label);
    button.type = "button";
    button.setAttribute("data-action", label);
    button.addEventListener("click", function () { handler(card, key, button); });
    return button;
  }

  function setCardError(card, error) {
    showError(card.querySelector(".card-error"), error);
  }

  function lifecycle(card, key, button, verb, next) {
    button.disabled = true;
    setCardError(card, null);
    api("POST", keyPath(key.id, verb), {}).then(function (updated) {
      replaceCard(updated, next);
    }, function (error) {
      button.disabled = false;
      setCardError(card, error);
    });
  }

  function renderCard(key) {
    state.keys[key.id] = key;
    var card = document.importNode($("card-template").content, true).firstElementChild;
    card.setAttribute("data-id", key.id);
    card.setAttribute("data-status", key.status);
    var name = card.querySelector(".card-name");
    name.textContent = key.name || "(no name)";
    name.tabIndex = -1;
    var headingId = "card-" + key.id.replace(/[^A-Za-z0-9_-]/g, "");
    name.id = headingId;
    card.querySelector("article").setAttribute("aria-labelledby", headingId);
    var status = STATUS_LABEL[key.status] || String(key.status);
    var badge = card.querySelector(".badge");
    badge.textContent = status;
    badge.className = "badge badge-" + (STATUS_LABEL[key.status] ? key.status : "other");
    card.querySelector(".prefix").textContent = key.prefix || "";
    setContent(card.querySelector(".created"), timeNode(key.created_at, "—"));
    setContent(card.querySelector(".expires"), timeNode(key.expires_at, "Never"));
    card.querySelector(".usage").textContent = plural(Number(key.usage_count) || 0, "request", "requests") +
      (key.remaining !== null && key.remaining !== undefined ? " (" + key.remaining + " left)" : "");
    card.querySelector(".status").textContent = status;
    setContent(card.querySelector(".last-used"), timeNode(key.last_used_at, "Never", true));
    if (key.subject !== undefined && key.subject !== null) {
      card.querySelector(".owner-row").hidden = false;
      card.querySelector(".owner").textContent = key.subject;
    }
    card.querySelector(".kind").textContent = key.kind || "";
    card.querySelector(".scopes-text").textContent = (key.scopes && key.scopes.length) ? key.scopes.join(", ") : "None";
    if (key.rate_limit) {
      card.querySelector(".limit-row").hidden = false;
      card.querySelector(".limit").textContent = key.rate_limit;
    }
    var attempts = Number(key.attempts_after_end) || 0;
    if (attempts > 0 && (key.status === "revoked" || key.status === "expired" || key.status === "inactive")) {
      var flag = card.querySelector(".flag");
      flag.hidden = false;
      flag.textContent = "Still being tried: " + plural(attempts, "refused request", "refused requests") +
        " in the last 30 days after it was " + (key.status === "inactive" ? "deactivated" : key.status) +
        ". Whoever holds this token may not know it stopped working, or it may have leaked.";
      card.classList.add("flagged");
    }

    var actions = card.querySelector(".card-actions");
    if (key.status !== "revoked") {
      actions.appendChild(actionButton(card, key, "Copy", function (c, k) {
        // The prefix without the "…" that marks it as a prefix, ready to
        // search logs and code for.
        copyText(String(k.prefix || "").replace(/…$/, "")).then(function () {
          c.querySelector(".card-note").textContent = "Prefix copied.";
        }, function (error) { setCardError(c, error); });
      }));
      actions.appendChild(actionButton(card, key, "Regenerate", function (c, k) {
        confirmAction({
          title: "Regenerate " + (k.name || "this token") + "?",
          text: "A new token replaces this one and is shown once. Apps using the current token must be updated.",
          verb: "Regenerate",
          grace: true,
          run: function (grace) {
            return api("POST", keyPath(k.id, "regenerate"), grace ? { grace: grace } : {});
          },
          after: function (answer) {
            var fresh = replaceCard(answer.key);
            showToken(answer.token, "Your regenerated token");
            // Focus returns to the card once the token has been read.
            $("token-dialog").addEventListener("close", function () {
              var b = fresh.querySelector('[data-action="Regenerate"]');
              if (b) b.focus();
            }, { once: true });
          }
        });
      }));
      if (key.status === "inactive") {
        actions.appendChild(actionButton(card, key, "Activate", function (c, k, b) { lifecycle(c, k, b, "activate", "Deactivate"); }));
      } else {
        actions.appendChild(actionButton(card, key, "Deactivate", function (c, k, b) { lifecycle(c, k, b, "deactivate", "Activate"); }));
      }
      actions.appendChild(actionButton(card, key, "Revoke", function (c, k) {
        confirmAction({
          title: "Revoke " + (k.name || "this token") + "?",
          text: "Revoking is permanent: the token stops working at once and cannot be activated again.",
          verb: "Revoke",
          grace: false,
          run: function () { return api("POST", keyPath(k.id, "revoke"), {}); },
          after: function (updated) {
            var fresh = replaceCard(updated);
            if (state.status && state.status !== updated.status) {
              fresh.remove();
              updateEmpty();
            } else {
              fresh.querySelector(".card-name").focus();
            }
          }
        });
      }));
    } else {
      actions.appendChild(el("p", "muted", "Revoked tokens cannot be used or changed."));
    }

    var details = card.querySelector("details");
    details.addEventListener("toggle", function () {
      if (details.open && !details.getAttribute("data-loaded")) {
        details.setAttribute("data-loaded", "1");
        loadMore(card, key);
      }
    });
    return card;
  }

  // ---- usage chart and history ---------------------------------------------

  function loadMore(card, key) {
    var error = card.querySelector(".more-error");
    var now = Date.now();
    var since = new Date(Math.floor(now / DAY) * DAY - 29 * DAY).toISOString().replace(/\.\d{3}Z$/, "Z");
    var usage = api("GET", keyPath(key.id, "usage") + query({ since: since, step: "day" })).then(function (answer) {
      drawChart(card.querySelector(".chart"), answer.buckets || []);
    });
    var events = loadEvents(card, key, null);
    Promise.all([usage, events]).catch(function (e) { showError(error, e); });
  }

  function loadEvents(card, key, after) {
    var list = card.querySelector(".events");
    var more = card.querySelector(".events-more");
    return api("GET", "events" + query({ key: key.id, after: after, limit: 20 })).then(function (answer) {
      var events = answer.events || [];
      if (!after && events.length === 0) list.appendChild(el("li", "muted", "No events yet."));
      events.forEach(function (event) { list.appendChild(renderEvent(event)); });
      more.hidden = !answer.next;
      if (answer.next) {
        var cursor = answer.next;
        more.addEventListener("click", function () {
          loadEvents(card, key, cursor).catch(function (e) { showError(card.querySelector(".more-error"), e); });
        }, { once: true });
      }
    });
  }

  function renderEvent(event) {
    var item = el("li", "event");
    item.appendChild(timeNode(event.at, "", true));
    item.appendChild(document.createTextNode(" "));
    item.appendChild(el("strong", null, ACTION_LABEL[event.action] || event.action));
    item.appendChild(document.createTextNode(" by "));
    item.appendChild(el("span", "actor", event.actor));
    var source = [event.ip, event.user_agent].filter(Boolean).join(", ");
    if (source) item.appendChild(el("span", "muted", " (" + source + ")"));
    var changes = event.changes || {};
    var fields = Object.keys(changes);
    if (fields.length) {
      var ul = el("ul", "changes");
      fields.forEach(function (field) {
        var change = changes[field] || {};
        ul.appendChild(el("li", null, field + ": " + show(change.from) + " → " + show(change.to)));
      });
      item.appendChild(ul);
    }
    return item;
  }

  function show(value) {
    if (value === null || value === undefined) return "none";
    if (typeof value === "string") return value;
    if (Array.isArray(value)) return value.length ? value.map(show).join(", ") : "none";
    return JSON.stringify(value);
  }

  function drawChart(container, buckets) {
    container.textContent = "";
    var totalValid = 0;
    var totalRefused = 0;
    var max = 1;
    var bars = buckets.map(function (b) {
      var refused = 0;
      Object.keys(b.refused || {}).forEach(function (code) { refused += Number(b.refused[code]) || 0; });
      var valid = Number(b.valid) || 0;
      totalValid += valid;
      totalRefused += refused;
      if (valid + refused > max) max = valid + refused;
      return { start: b.start, valid: valid, refused: refused, codes: b.refused || {} };
    });
    var width = 300;
    var height = 80;
    var slot = bars.length ? width / bars.length : width;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + (height + 1));
    svg.setAttribute("class", "chart-svg");
    // Bars fill the card's width whatever its size.
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    var summary = plural(totalValid, "valid request", "valid requests") + " and " +
      plural(totalRefused, "refused request", "refused requests") + " in the last " + plural(bars.length, "day", "days");
    svg.setAttribute("aria-label", summary);
    var axis = document.createElementNS(SVG, "line");
    axis.setAttribute("x1", "0");
    axis.setAttribute("x2", String(width));
    axis.setAttribute("y1", String(height + 0.5));
    axis.setAttribute("y2", String(height + 0.5));
    axis.setAttribute("class", "axis");
    svg.appendChild(axis);
    bars.forEach(function (bar, i) {
      var group = document.createElementNS(SVG, "g");
      var title = document.createElementNS(SVG, "title");
      var codes = Object.keys(bar.codes).map(function (c) { return c + " " + bar.codes[c]; }).join(", ");
      title.textContent = formatDate(bar.start) + ": " + bar.valid + " valid, " + bar.refused + " refused" + (codes ? " (" + codes + ")" : "");
      group.appendChild(title);
      var x = i * slot + slot * 0.15;
      var w = Math.max(slot * 0.7, 1);
      var validH = (bar.valid / max) * height;
      var refusedH = (bar.refused / max) * height;
      [["valid", validH, height - validH], ["refused", refusedH, height - validH - refusedH]].forEach(function (part) {
        if (part[1] <= 0) return;
        var rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("x", x.toFixed(2));
        rect.setAttribute("y", part[2].toFixed(2));
        rect.setAttribute("width", w.toFixed(2));
        rect.setAttribute("height", Math.max(part[1], 1).toFixed(2));
        rect.setAttribute("class", "bar-" + part[0]);
        group.appendChild(rect);
      });
      svg.appendChild(group);
    });
    container.appendChild(svg);
    var legend = el("p", "legend");
    legend.appendChild(el("span", "swatch swatch-valid"));
    legend.appendChild(document.createTextNode(" Valid " + totalValid + " "));
    legend.appendChild(el("span", "swatch swatch-refused"));
    legend.appendChild(document.createTextNode(" Refused " + totalRefused));
    if (bars.length) {
      legend.appendChild(el("span", "range", formatDate(bars[0].start) + " – " + formatDate(bars[bars.length - 1].start)));
    }
    container.appendChild(legend);
  }

  // ---- the list --------------------------------------------------------------

  function updateEmpty() {
    var count = $("cards").children.length;
    var empty = $("empty");
    empty.hidden = count > 0;
    if (count === 0) {
      empty.textContent = state.status
        ? "No " + STATUS_LABEL[state.status].toLowerCase() + " tokens."
        : "No tokens yet. Use Create Token to make your first one.";
    }
  }

  function loadKeys(append) {
    var main = $("main");
    main.setAttribute("data-state", "loading");
    $("list-status").textContent = "Loading…";
    showError($("list-error"), null);
    var params = { status: state.status, limit: 100, after: append ? state.next : null };
    return api("GET", "keys" + query(params)).then(function (answer) {
      var cards = $("cards");
      if (!append) cards.textContent = "";
      var fragment = document.createDocumentFragment();
      (answer.keys || []).forEach(function (key) { fragment.appendChild(renderCard(key)); });
      cards.appendChild(fragment);
      state.next = answer.next || null;
      $("more").hidden = !state.next;
      updateEmpty();
      $("list-status").textContent = "";
      main.setAttribute("data-state", "ready");
    }, function (error) {
      $("list-status").textContent = "";
      showError($("list-error"), error);
      main.setAttribute("data-state", "error");
    });
  }

  $("status-filter").addEventListener("change", function () {
    state.status = $("status-filter").value;
    loadKeys(false);
  });
  $("refresh").addEventListener("click", function () { loadKeys(false); });
  $("more").addEventListener("click", function () { loadKeys(true); });

  // ---- start -----------------------------------------------------------------

  function start() {
    var meta = api("GET", "meta").then(function (m) {
      state.meta = m;
      var kinds = m.kinds || [];
      var kindSelect = $("create-kind");
      kindSelect.textContent = "";
      kinds.forEach(function (k) { kindSelect.appendChild(new Option(k.name, k.name)); });
      if (m.default_kind) kindSelect.value = m.default_kind;
      $("create-kind-field").hidden = kinds.length < 2;
      if (m.limits && m.limits.name) $("create-name").maxLength = m.limits.name;
      if (m.operator) {
        $("mode").hidden = false;
        $("mode").textContent = "Operator view: every owner's tokens.";
      }
      $("create-open").disabled = kinds.length === 0;
    }, function (error) {
      showError($("list-error"), error);
    });
    var keys = loadKeys(false);
    Promise.all([meta, keys]).then(function () {
      if (window.performance && performance.mark) performance.mark("gatepass:first-render");
    });
  }

  start();
})();

// The sandbox page: a Slack look-alike for learning the SIMS ID bot.
//
// Everything the bot sends is untrusted text (school names come from SIMS ID), so
// nothing here ever assigns innerHTML: every node is built with createElement and
// textContent, and mrkdwn is converted token by token into elements.
"use strict";

(function () {
  const POLL_WAIT_SECONDS = 25;
  const RETRY_MS = 2000;
  const HINTS = ["/simsid help", "/simsid pending", "/simsid apps", "/simsid customers"];
  const SCHOOLS = [
    ["Oakfield Primary", "123456", "823/4001"],
    ["St Mary's C of E Junior", "110233", "873/3012"],
    ["Riverside Academy", "141592", "330/4123"],
    ["Hilltop Infant & Nursery", "118877", "916/2044"],
    ["Meadowbank School", "135790", "204/5002"],
    ["Kingsway Primary", "102938", "941/2210"],
  ];
  // Slack's shortcodes the bot uses, shown as the emoji Slack would draw.
  const EMOJI = {
    hourglass_flowing_sand: "\u23F3", hourglass: "\u231B", white_check_mark: "\u2705",
    no_entry: "\u26D4", wastebasket: "\uD83D\uDDD1\uFE0F", information_source: "\u2139\uFE0F",
    inbox_tray: "\uD83D\uDCE5", key: "\uD83D\uDD11", lock: "\uD83D\uDD12", tada: "\uD83C\uDF89",
    warning: "\u26A0\uFE0F", x: "\u274C", wave: "\uD83D\uDC4B", bell: "\uD83D\uDD14",
    calendar: "\uD83D\uDCC5", mag: "\uD83D\uDD0D", school: "\uD83C\uDFEB",
  };

  const state = {
    user: "UADMIN",
    channel: null,
    data: null,
    version: null,
    poll: null,
    dismissed: new Set(),
    collapsed: new Set(), // channel/ts of threads the person closed
    rendered: new Map(), // ts -> JSON of what was drawn, to flash what changed
    seenCounts: new Map(), // channel -> item count when last viewed
    appsKey: "",
    view: "channel", // or "home": the bot's Home tab
    modalKey: "", // what the open modal shows, so a redraw keeps what is typed
    // Slack forgets private replies when the page reloads (the bot's replies say so): do too.
    loadedAt: Date.now() / 1000,
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // -- errors -------------------------------------------------------------------

  function showError(message) {
    $("error-text").textContent = message;
    $("error-banner").hidden = false;
  }

  function clearError() {
    $("error-banner").hidden = true;
    $("error-text").textContent = "";
  }

  // -- talking to the sandbox server ----------------------------------------------

  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (err) {
      return { ok: false, error: "the sandbox is not running (" + err.message + ")" };
    }
    let data;
    try {
      data = await response.json();
    } catch (err) {
      data = { ok: false, error: "HTTP " + response.status };
    }
    if (!response.ok && data.ok !== false) data = { ok: false, error: "HTTP " + response.status };
    return data;
  }

  async function poll() {
    if (state.poll) state.poll.abort();
    const controller = new AbortController();
    state.poll = controller;
    const user = state.user;
    const since = state.version === null ? "" : String(state.version);
    const url = "/sandbox/state?user=" + encodeURIComponent(user) + "&since=" + since +
      "&wait=" + POLL_WAIT_SECONDS;
    try {
      const response = await fetch(url, { signal: controller.signal });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      if (controller !== state.poll || user !== state.user) return;
      state.version = data.version;
      state.data = data;
      render();
      setTimeout(poll, 0);
    } catch (err) {
      if (err.name === "AbortError") return;
      showError("Lost the sandbox (" + err.message + "); retrying…");
      state.version = null;
      setTimeout(poll, RETRY_MS);
    }
  }

  function refreshNow() {
    state.version = null;
    poll();
  }

  // -- mrkdwn, safely -------------------------------------------------------------

  const ENTITIES = { lt: "<", gt: ">", amp: "&" };

  function decodeEntities(text) {
    // Only the three escapes Slack uses; anything else stays exactly as sent.
    return text.replace(/&(lt|gt|amp);/g, (_, name) => ENTITIES[name]);
  }

  function emojify(text) {
    return text.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
  }

  function personName(id) {
    const people = (state.data && state.data.people) || [];
    const person = people.find((p) => p.id === id);
    return person ? person.name : id;
  }

  // Tokens, earliest first: code span, user mention, broadcast, *bold*, _italic_.
  const INLINE = new RegExp(
    [
      "`([^`]+)`",
      "<@([UW][A-Z0-9]+)(?:\\|[^>]*)?>",
      "<!(here|channel|everyone)(?:\\|[^>]*)?>",
      "(?<![\\w*])\\*(?!\\s)([^*]+?)\\*(?![\\w*])",
      "(?<![\\w_])_(?!\\s)([^_]+?)_(?![\\w_])",
    ].join("|"),
    "g"
  );

  function appendText(parent, raw) {
    if (raw) parent.appendChild(document.createTextNode(emojify(decodeEntities(raw))));
  }

  function renderInline(text, parent) {
    let last = 0;
    INLINE.lastIndex = 0;
    const matches = [...text.matchAll(INLINE)];
    for (const m of matches) {
      appendText(parent, text.slice(last, m.index));
      last = m.index + m[0].length;
      if (m[1] !== undefined) {
        parent.appendChild(el("code", "md-code", decodeEntities(m[1])));
      } else if (m[2] !== undefined) {
        const mention = el("span", "md-mention", "@" + personName(m[2]));
        mention.dataset.user = m[2];
        parent.appendChild(mention);
      } else if (m[3] !== undefined) {
        // Unescaped, this would ping a whole channel: make it impossible to miss.
        const broadcast = el("span", "md-broadcast", "@" + m[3]);
        broadcast.title = "A broadcast: in Slack this notifies everyone";
        parent.appendChild(broadcast);
      } else if (m[4] !== undefined) {
        const strong = el("strong");
        renderInline(m[4], strong);
        parent.appendChild(strong);
      } else if (m[5] !== undefined) {
        const em = el("em");
        renderInline(m[5], em);
        parent.appendChild(em);
      }
    }
    appendText(parent, text.slice(last));
  }

  function renderMrkdwn(text, parent) {
    String(text || "").split("\n").forEach((line, i) => {
      if (i > 0) parent.appendChild(el("br"));
      renderInline(line, parent);
    });
    return parent;
  }

  function renderText(obj, className) {
    const node = el("div", className);
    if (!obj) return node;
    if (obj.type === "mrkdwn") return renderMrkdwn(obj.text, node);
    node.textContent = obj.emoji === false ? obj.text : emojify(obj.text || "");
    return node;
  }

  // -- Block Kit ------------------------------------------------------------------

  function renderButton(button, where) {
    const style = button.style === "primary" ? " bk-primary" :
      button.style === "danger" ? " bk-danger" : "";
    const node = el("button", "bk-button" + style);
    node.type = "button";
    node.textContent = emojify((button.text && button.text.text) || "");
    node.dataset.actionId = button.action_id || "";
    node.addEventListener("click", () => pressButton(button, where, node));
    return node;
  }

  function renderElements(elements, where, blockIndex) {
    const row = el("div", "bk-actions");
    (elements || []).forEach((element, elementIndex) => {
      if (element.type === "button") {
        row.appendChild(renderButton(element, { ...where, block: blockIndex, element: elementIndex }));
      } else {
        row.appendChild(el("span", "bk-unsupported", "[" + element.type + "]"));
      }
    });
    return row;
  }

  function renderBlock(block, where, index) {
    switch (block.type) {
      case "header":
        return el("div", "bk-header", emojify((block.text && block.text.text) || ""));
      case "section": {
        const node = el("div", "bk-section");
        const body = el("div", "bk-section-body");
        if (block.text) body.appendChild(renderText(block.text, "bk-text"));
        if (block.fields && block.fields.length) {
          const fields = el("div", "bk-fields");
          block.fields.forEach((f) => fields.appendChild(renderText(f, "bk-field")));
          body.appendChild(fields);
        }
        node.appendChild(body);
        if (block.accessory && block.accessory.type === "button") {
          const accessory = el("div", "bk-accessory");
          accessory.appendChild(
            renderButton(block.accessory, { ...where, block: index, element: 0, accessory: true }));
          node.appendChild(accessory);
        }
        return node;
      }
      case "context": {
        const node = el("div", "bk-context");
        (block.elements || []).forEach((e) => {
          if (e.type === "image") {
            node.appendChild(el("span", "bk-context-image", e.alt_text || ""));
          } else {
            node.appendChild(renderText(e, "bk-context-item"));
          }
        });
        return node;
      }
      case "divider":
        return el("hr", "bk-divider");
      case "actions":
        return renderElements(block.elements, where, index);
      default:
        return el("div", "bk-unsupported", "[" + block.type + " block]");
    }
  }

  function renderBlocks(blocks, fallback, where) {
    const body = el("div", "message-body");
    if (!blocks || !blocks.length) {
      renderMrkdwn(fallback, body);
      return body;
    }
    blocks.forEach((block, index) => body.appendChild(renderBlock(block, where, index)));
    return body;
  }

  // -- buttons and their confirm dialogs --------------------------------------------

  function confirmDialog(confirm) {
    return new Promise((resolve) => {
      const dialog = $("confirm-dialog");
      $("confirm-title").textContent = emojify((confirm.title && confirm.title.text) || "Are you sure?");
      const text = $("confirm-text");
      text.replaceChildren(renderText(confirm.text, "bk-text"));
      const yes = $("confirm-yes");
      const no = $("confirm-no");
      yes.textContent = (confirm.confirm && confirm.confirm.text) || "Yes";
      no.textContent = (confirm.deny && confirm.deny.text) || "Cancel";
      yes.className = "bk-button " + (confirm.style === "danger" ? "bk-danger" : "bk-primary");
      const finish = (answer) => {
        yes.onclick = no.onclick = dialog.oncancel = null;
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      yes.onclick = () => finish(true);
      no.onclick = () => finish(false);
      dialog.oncancel = () => finish(false);
      dialog.showModal();
      no.focus();
    });
  }

  async function pressButton(button, where, node) {
    clearError();
    if (button.confirm && !(await confirmDialog(button.confirm))) return;
    node.disabled = true;
    node.classList.add("busy");
    const body = where.home
      ? { user: state.user, surface: "home", block: where.block, element: where.element }
      : {
        user: state.user,
        channel: where.channel,
        ts: where.ts,
        ephemeral: where.ephemeral,
        block: where.block,
        element: where.element,
      };
    const result = await post("/sandbox/click", body);
    node.disabled = false;
    node.classList.remove("busy");
    if (!result.ok) showError(result.error || "the click failed");
  }

  // -- modals (views.open) ----------------------------------------------------------

  function renderModal() {
    const dialog = $("modal-dialog");
    const modal = state.data.modal;
    if (!modal) {
      state.modalKey = "";
      if (dialog.open) dialog.close();
      return;
    }
    const key = JSON.stringify([modal.id, modal.view, modal.errors]);
    if (key === state.modalKey && dialog.open) return;
    const old = $("modal-input");
    const typed = old && old.dataset.view === modal.id ? old.value : "";
    state.modalKey = key;
    const view = modal.view || {};
    $("modal-title").textContent = emojify((view.title && view.title.text) || "");
    const body = $("modal-body");
    body.replaceChildren();
    (view.blocks || []).forEach((block, index) => {
      if (block.type !== "input") {
        body.appendChild(renderBlock(block, { modal: true }, index));
        return;
      }
      const field = el("div", "modal-field");
      const label = el("label", "modal-label", (block.label && block.label.text) || "");
      label.htmlFor = "modal-input";
      if (block.optional) label.appendChild(el("span", "modal-optional", " (optional)"));
      field.appendChild(label);
      const element = block.element || {};
      if (element.type === "datetimepicker") {
        // A maintenance window's end: the browser's own picker, sent as Unix seconds.
        const picker = el("input", "modal-input");
        picker.type = "datetime-local";
        picker.id = "modal-until";
        label.htmlFor = "modal-until";
        if (element.initial_date_time) {
          const at = new Date(element.initial_date_time * 1000);
          picker.value = new Date(at.getTime() - at.getTimezoneOffset() * 60000)
            .toISOString().slice(0, 16);
        }
        field.appendChild(picker);
        const wrong = (modal.errors || {})[block.block_id];
        if (wrong) field.appendChild(el("div", "modal-error", wrong));
        if (block.hint) field.appendChild(el("div", "modal-hint", block.hint.text || ""));
        body.appendChild(field);
        return;
      }
      const input = el(element.multiline ? "textarea" : "input", "modal-input");
      input.id = "modal-input";
      input.dataset.view = modal.id;
      input.dataset.block = block.block_id || "";
      if (element.max_length) input.maxLength = element.max_length;
      if (element.placeholder) input.placeholder = element.placeholder.text || "";
      input.value = typed;
      field.appendChild(input);
      const error = (modal.errors || {})[block.block_id];
      if (error) field.appendChild(el("div", "modal-error", error));
      if (block.hint) field.appendChild(el("div", "modal-hint", block.hint.text || ""));
      body.appendChild(field);
    });
    const submit = $("modal-submit");
    submit.hidden = !view.submit;
    submit.textContent = (view.submit && view.submit.text) || "";
    submit.disabled = false;
    $("modal-close").textContent = (view.close && view.close.text) || "Close";
    if (!dialog.open) dialog.showModal();
  }

  async function submitModal() {
    const modal = state.data && state.data.modal;
    if (!modal) return;
    const input = $("modal-input");
    $("modal-submit").disabled = true;
    const result = await post("/sandbox/submit", {
      user: state.user,
      view_id: modal.id,
      text: input ? input.value : "",
      until: $("modal-until") && $("modal-until").value
        ? String(Math.floor(new Date($("modal-until").value).getTime() / 1000)) : "",
    });
    $("modal-submit").disabled = false;
    if (!result.ok) showError(result.error || "the form was not sent");
  }

  async function closeModal() {
    const modal = state.data && state.data.modal;
    $("modal-dialog").close();
    if (modal) await post("/sandbox/close", { user: state.user, view_id: modal.id });
  }

  // -- the Home tab -----------------------------------------------------------------

  async function openHome() {
    state.view = "home";
    clearError();
    render(false);
    const result = await post("/sandbox/home", { user: state.user });
    if (!result.ok) showError(result.error || "the Home tab did not open");
  }

  function renderHome() {
    $("channel-title").textContent = "SIMS ID · Home";
    const box = $("messages");
    const home = state.data.home;
    const page = el("article", "home-tab");
    if (home) {
      page.appendChild(renderBlocks(home.blocks, "", { home: true }));
    } else {
      page.appendChild(el("p", "empty", "Opening the Home tab…"));
    }
    box.replaceChildren(page);
  }

  // -- messages -------------------------------------------------------------------

  function timeLabel(ts) {
    const seconds = parseFloat(ts);
    const date = isNaN(seconds) ? new Date() : new Date(seconds * 1000);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function avatar() {
    const node = el("div", "avatar", "ID");
    node.setAttribute("aria-hidden", "true");
    return node;
  }

  function messageHead(item, ephemeral) {
    const head = el("div", "message-head");
    head.appendChild(el("span", "sender", "SIMS ID"));
    head.appendChild(el("span", "app-badge", "APP"));
    head.appendChild(el("span", "time", timeLabel(item.at || item.ts)));
    if (item.edited) head.appendChild(el("span", "edited", "(edited)"));
    if (ephemeral) head.appendChild(el("span", "only-you", "Only visible to you"));
    return head;
  }

  function renderMessage(item, channel) {
    const ephemeral = item.kind === "ephemeral";
    const node = el("article", "message" + (ephemeral ? " ephemeral" : ""));
    node.dataset.ts = item.ts;
    const where = { channel: channel, ts: item.ts, ephemeral: ephemeral };
    if (ephemeral && item.origin && item.origin !== "button" && item.origin !== "bot") {
      node.appendChild(el("div", "origin", "You ran " + item.origin));
    }
    const row = el("div", "message-row");
    row.appendChild(avatar());
    const main = el("div", "message-main");
    main.appendChild(messageHead(item, ephemeral));
    main.appendChild(renderBlocks(item.blocks, item.text, where));
    if (ephemeral) {
      const dismiss = el("button", "link-button dismiss", "Dismiss message");
      dismiss.type = "button";
      dismiss.addEventListener("click", () => {
        state.dismissed.add(item.ts);
        render();
      });
      main.appendChild(dismiss);
    }
    if (item.replies && item.replies.length) main.appendChild(renderThread(item, channel));
    row.appendChild(main);
    node.appendChild(row);
    const drawn = JSON.stringify([item.blocks, item.text, (item.replies || []).length]);
    const before = state.rendered.get(channel + "/" + item.ts);
    if (before !== undefined && before !== drawn) node.classList.add("flash");
    state.rendered.set(channel + "/" + item.ts, drawn);
    return node;
  }

  function renderThread(item, channel) {
    const thread = el("details", "thread");
    const key = channel + "/" + item.ts;
    thread.open = !state.collapsed.has(key); // the page redraws often: remember a closed thread
    thread.addEventListener("toggle", () => {
      if (thread.open) state.collapsed.delete(key);
      else state.collapsed.add(key);
    });
    const count = item.replies.length;
    thread.appendChild(el("summary", "thread-summary", count + (count === 1 ? " reply" : " replies")));
    item.replies.forEach((reply) => {
      const node = el("div", "thread-reply");
      node.dataset.ts = reply.ts;
      const where = { channel: channel, ts: reply.ts, ephemeral: false };
      node.appendChild(messageHead(reply, false));
      node.appendChild(renderBlocks(reply.blocks, reply.text, where));
      thread.appendChild(node);
    });
    return thread;
  }

  // -- the whole page -------------------------------------------------------------

  function currentChannel() {
    const channels = state.data.channels;
    return channels.find((c) => c.id === state.channel) || channels[0];
  }

  function renderChannels() {
    const list = $("channel-list");
    list.replaceChildren();
    state.data.channels.forEach((channel) => {
      const item = el("li");
      const tab = el("button", "channel-tab", "# " + channel.name);
      tab.type = "button";
      tab.dataset.channel = channel.id;
      const active = state.view === "channel" && channel.id === currentChannel().id;
      if (active) {
        tab.classList.add("active");
        tab.setAttribute("aria-current", "page");
        state.seenCounts.set(channel.id, channel.items.length);
      } else if ((state.seenCounts.get(channel.id) || 0) < channel.items.length) {
        tab.classList.add("unread");
      }
      tab.addEventListener("click", () => {
        state.channel = channel.id;
        state.view = "channel";
        clearError();
        render(true);
      });
      item.appendChild(tab);
      list.appendChild(item);
    });
  }

  function renderUsers() {
    const box = $("user-switch");
    box.replaceChildren();
    state.data.people.forEach((person) => {
      const option = el("button", "user-switch-option");
      option.type = "button";
      option.dataset.user = person.id;
      option.setAttribute("role", "radio");
      option.setAttribute("aria-checked", String(person.id === state.user));
      option.appendChild(el("span", "presence"));
      option.appendChild(el("span", "person", person.name));
      option.appendChild(el("span", "role", person.admin ? "admin" : "not an admin"));
      option.addEventListener("click", () => {
        if (state.user === person.id) return;
        state.user = person.id;
        state.rendered.clear();
        clearError();
        refreshNow();
        if (state.view === "home") openHome();
      });
      box.appendChild(option);
    });
  }

  function renderApps() {
    const apps = state.data.apps || [];
    const key = JSON.stringify(apps);
    if (key === state.appsKey) return; // keep the chosen option while nothing changed
    state.appsKey = key;
    const select = $("install-app");
    const chosen = select.value;
    select.replaceChildren();
    apps.forEach((app) => {
      const option = el("option", null, app.name + " (" + app.id + ")");
      option.value = app.id;
      option.dataset.name = app.name;
      select.appendChild(option);
    });
    if (apps.some((a) => a.id === chosen)) select.value = chosen;
  }

  function renderRequests() {
    const log = $("request-log");
    log.replaceChildren();
    (state.data.requests || []).forEach((r) => {
      const ok = r.status >= 200 && r.status < 300;
      const item = el("li", ok ? "ok" : "failed");
      item.appendChild(el("span", "request-time", r.at));
      item.appendChild(el("span", "request-status", String(r.status)));
      item.appendChild(el("span", "request-what", r.what));
      if (!ok && r.detail) item.appendChild(el("div", "request-detail", r.detail));
      log.appendChild(item);
    });
  }

  function render(scrollToEnd) {
    if (!state.data) return;
    const channel = currentChannel();
    state.channel = channel.id;
    renderChannels();
    renderUsers();
    renderApps();
    renderRequests();
    renderModal();
    const homeTab = $("home-tab");
    homeTab.classList.toggle("active", state.view === "home");
    $("composer").hidden = state.view === "home";
    if (state.view === "home") {
      renderHome();
      return;
    }
    $("channel-title").textContent = "# " + channel.name;
    $("composer-input").placeholder = "Message #" + channel.name + ": try /simsid help";
    const box = $("messages");
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const nodes = channel.items
      .filter((item) => !state.dismissed.has(item.ts))
      .filter((item) => item.kind !== "ephemeral" || item.at >= state.loadedAt)
      .map((item) => renderMessage(item, channel.id));
    if (!nodes.length) {
      nodes.push(el("p", "empty", "Nothing here yet. Send an install event from the SIMS ID " +
        "panel, or type /simsid help below."));
    }
    box.replaceChildren(...nodes);
    if (scrollToEnd || atEnd) box.scrollTop = box.scrollHeight;
  }

  // -- the message box and the install form ---------------------------------------------

  async function sendCommand(event) {
    event.preventDefault();
    clearError();
    const input = $("composer-input");
    const text = input.value.trim();
    if (!text) return;
    if (!/^\/simsid(\s|$)/.test(text)) {
      showError("The bot only hears its slash command here: start with /simsid (try /simsid help).");
      return;
    }
    const channel = state.channel || "C0INSTALLS";
    input.value = "";
    const result = await post("/sandbox/command", { user: state.user, channel: channel, text: text });
    if (!result.ok) {
      showError(result.error || "the command failed");
      input.value = text;
      return;
    }
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
  }

  function anotherSchool() {
    const [name, urn, dfe] = SCHOOLS[Math.floor(Math.random() * SCHOOLS.length)];
    $("install-site-name").value = name;
    $("install-urn").value = urn;
    $("install-dfe").value = dfe;
    const bytes = new Uint8Array(4);
    crypto.getRandomValues(bytes);
    $("install-site-id").value = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function sendInstall(event) {
    event.preventDefault();
    clearError();
    const select = $("install-app");
    const option = select.options[select.selectedIndex];
    const status = $("install-status");
    if (!option) {
      showError("No application to install: the sandbox has not loaded yet.");
      return;
    }
    const type = document.querySelector("input[name=type]:checked").value;
    status.textContent = "Sending…";
    status.className = "status";
    const result = await post("/sandbox/install", {
      type: type,
      app_id: option.value,
      app_name: option.dataset.name,
      site_id: $("install-site-id").value,
      site_name: $("install-site-name").value,
      urn: $("install-urn").value,
      dfe_number: $("install-dfe").value,
    });
    if (result.ok) {
      status.textContent = "The bot accepted the event (" + result.status + ").";
      status.className = "status ok";
    } else {
      status.textContent = "Not accepted.";
      status.className = "status failed";
      showError(result.error || "the event was not accepted");
    }
  }

  function start() {
    $("composer").addEventListener("submit", sendCommand);
    $("install-form").addEventListener("submit", sendInstall);
    $("install-another").addEventListener("click", anotherSchool);
    $("error-close").addEventListener("click", clearError);
    $("home-tab").addEventListener("click", openHome);
    $("modal-submit").addEventListener("click", submitModal);
    $("modal-close").addEventListener("click", closeModal);
    $("modal-dialog").addEventListener("cancel", (event) => {
      event.preventDefault();
      closeModal();
    });
    const hints = $("composer-hints");
    HINTS.forEach((hint) => {
      const chip = el("button", "hint-chip", hint);
      chip.type = "button";
      chip.addEventListener("click", () => {
        const input = $("composer-input");
        input.value = hint + " ";
        input.focus();
      });
      hints.appendChild(chip);
    });
    anotherSchool();
    poll();
  }

  document.addEventListener("DOMContentLoaded", start);
})();

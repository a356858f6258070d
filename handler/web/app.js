"use strict";
// The streamgate page: posts a prompt with fetch, reads the answer with a stream reader and renders
// each server-sent event as it arrives. No framework, no build step: this file is inlined into index.html.

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("ask"), prompt: $("prompt"), send: $("send"), stop: $("stop"), fresh: $("new"), state: $("state"),
  endpoint: $("endpoint"), apiKey: $("api-key"), ttfb: $("ttfb"), rate: $("rate"), session: $("session"),
  reasoning: $("reasoning"), tools: $("tools"), answer: $("answer"), error: $("error"), history: $("history"),
};

let sessionId = null;
let controller = null;
// Counts the conversations "New" has begun: a turn it aborted must not come back into the next one.
let conversation = 0;

// Relative to the page, so it works at / locally and at /<stage>/ behind API Gateway (with or without
// the trailing slash).
function endpointUrl() {
  const page = new URL(window.location.href);
  if (!page.pathname.endsWith("/")) page.pathname += "/";
  return new URL(ui.endpoint.value.trim() || "invoke", page);
}

// The SSE spec's line framing and fields (html.spec.whatwg.org, server-sent events): lines end in CRLF,
// LF or CR; a blank line dispatches; ':' starts a comment; "field: value" loses one leading space.
class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.name = "";
    this.data = [];
  }

  push(text) {
    this.buffer += text;
    let start = 0;
    for (;;) {
      const end = this.buffer.slice(start).search(/[\r\n]/);
      if (end === -1) break;
      const at = start + end;
      // A CR at the very end may be the first half of a CRLF still on its way.
      if (this.buffer[at] === "\r" && at + 1 === this.buffer.length) break;
      this.line(this.buffer.slice(start, at));
      start = at + (this.buffer[at] === "\r" && this.buffer[at + 1] === "\n" ? 2 : 1);
    }
    this.buffer = this.buffer.slice(start);
  }

  // The stream has ended: a CR held back above was a line end after all. Anything after the last line
  // end is an unfinished event, which the spec drops.
  end() {
    if (this.buffer.endsWith("\r")) this.push("\n");
    this.buffer = "";
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.name = value;
    else if (field === "data") this.data.push(value);
  }

  dispatch() {
    const name = this.name || "message";
    const data = this.data.join("\n");
    const had = this.data.length > 0;
    this.name = "";
    this.data = [];
    if (had) this.onEvent(name, data);
  }
}

function parsed(data) {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

// The text an event carries, whichever shape the backend streams: {"type":"text","text":…}, an
// OpenAI chunk, or a plain string.
function textOf(doc) {
  if (typeof doc === "string") return doc;
  if (doc === null || typeof doc !== "object") return "";
  if (typeof doc.text === "string") return doc.text;
  if (typeof doc.delta === "string") return doc.delta;
  if (typeof doc.content === "string") return doc.content;
  if (typeof doc.token === "string") return doc.token;
  const choice = Array.isArray(doc.choices) ? doc.choices[0] : null;
  if (choice && choice.delta && typeof choice.delta.content === "string") return choice.delta.content;
  return "";
}

class Turn {
  constructor(prompt) {
    this.prompt = prompt;
    this.conversation = conversation;
    this.started = performance.now();
    this.firstByte = null;
    this.firstText = null;
    this.tokens = 0;
    this.tools = new Map();
    for (const part of [ui.answer, ui.reasoning, ui.tools, ui.error]) part.textContent = "";
    ui.ttfb.textContent = "…";
    ui.rate.textContent = "–";
  }

  arrived() {
    if (this.firstByte !== null) return;
    this.firstByte = performance.now();
    ui.ttfb.textContent = `${Math.round(this.firstByte - this.started)} ms`;
  }

  text(text) {
    if (!text) return;
    const now = performance.now();
    if (this.firstText === null) this.firstText = now;
    this.tokens += 1;
    ui.answer.textContent += text;
    const seconds = (now - this.firstText) / 1000;
    if (seconds > 0) ui.rate.textContent = `${(this.tokens / seconds).toFixed(1)} tokens/s`;
  }

  event(name, data) {
    const doc = parsed(data);
    const type = (doc && typeof doc === "object" && doc.type) || name;
    if (name === "error" || type === "error") return this.failed(doc);
    if (type === "done" || name === "done" || name === "guardrail") return this.done(doc);
    if (type === "reasoning" || type === "thinking") {
      ui.reasoning.textContent += textOf(doc);
      return;
    }
    if (typeof type === "string" && type.startsWith("tool")) return this.tool(type, doc);
    this.text(textOf(doc));
  }

  tool(type, doc) {
    // The native schema names a call by its block `index` in every tool event (the start also has its id).
    const id = doc.index ?? (doc.id || doc.tool_use_id || doc.name || "tool");
    let line = this.tools.get(id);
    if (!line) {
      line = document.createElement("div");
      line.dataset.testid = "tool";
      line.textContent = `⚙ ${doc.name || id}`;
      ui.tools.append(line);
      this.tools.set(id, line);
    }
    const input = doc.input ?? doc.delta ?? doc.arguments;
    if (input !== undefined) line.textContent += typeof input === "string" ? input : ` ${JSON.stringify(input)}`;
    if (type.endsWith("stop") || type.endsWith("end")) line.textContent += " ✓";
  }

  done(doc) {
    const reason = doc && typeof doc === "object" && doc.stop_reason ? ` (${doc.stop_reason})` : "";
    ui.state.textContent = `done${reason}`;
  }

  failed(doc) {
    const code = doc && typeof doc === "object" ? doc.error || doc.code || "error" : "error";
    const message = doc && typeof doc === "object" ? doc.message || "" : String(doc);
    ui.error.textContent = `${code}: ${message}`.replace(/: $/, "");
    ui.state.textContent = "failed";
  }

  archive() {
    const section = document.createElement("section");
    section.className = "turn";
    const asked = document.createElement("div");
    asked.className = "prompt";
    asked.textContent = this.prompt;
    section.append(asked);
    for (const part of [ui.reasoning, ui.tools, ui.answer, ui.error]) {
      const copy = part.cloneNode(true);
      copy.removeAttribute("id");
      delete copy.dataset.testid;
      section.append(copy);
    }
    ui.history.prepend(section);
  }
}

// No request under way: Send again, Stop idle.
function letGo() {
  controller = null;
  ui.send.disabled = false;
  ui.stop.disabled = true;
}

async function ask(prompt) {
  const turn = new Turn(prompt);
  const mine = new AbortController();
  controller = mine;
  ui.send.disabled = true;
  ui.stop.disabled = false;
  ui.state.textContent = "streaming";
  const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
  if (ui.apiKey.value) headers["X-Api-Key"] = ui.apiKey.value;
  const body = { prompt };
  if (sessionId) body.session_id = sessionId;
  try {
    const response = await fetch(endpointUrl(), {
      method: "POST", headers, body: JSON.stringify(body), signal: mine.signal,
    });
    sessionId = response.headers.get("X-Session-Id") || sessionId;
    ui.session.textContent = sessionId || "new";
    if (!response.ok || !response.body) {
      const text = await response.text();
      turn.arrived();
      turn.failed(typeof parsed(text) === "object" ? parsed(text) : { error: `HTTP ${response.status}`, message: text });
      return turn;
    }
    const parser = new SseParser((name, data) => turn.event(name, data));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      turn.arrived();
      parser.push(value);
    }
    parser.end();
    if (ui.state.textContent === "streaming") ui.state.textContent = "ended";
  } catch (error) {
    if (turn.conversation !== conversation) return turn; // "New" aborted it and has already reset the page
    if (error.name === "AbortError") ui.state.textContent = "stopped";
    else turn.failed({ error: "NetworkError", message: error.message });
  } finally {
    if (controller === mine) letGo();
  }
  return turn;
}

let previous = null;

ui.form.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const prompt = ui.prompt.value.trim();
  if (!prompt || controller) return;
  if (previous) previous.archive();
  const turn = await ask(prompt);
  if (turn.conversation === conversation) previous = turn;
});

ui.prompt.addEventListener("keydown", (key) => {
  if (key.key === "Enter" && (key.ctrlKey || key.metaKey)) ui.form.requestSubmit();
});

ui.stop.addEventListener("click", () => controller && controller.abort());

ui.fresh.addEventListener("click", () => {
  conversation += 1;
  if (controller) controller.abort();
  // The aborted turn lets go of the buttons only while it is still the current one (see `ask`).
  letGo();
  sessionId = null;
  previous = null;
  ui.session.textContent = "new";
  ui.state.textContent = "ready";
  ui.ttfb.textContent = "–";
  ui.rate.textContent = "–";
  ui.history.textContent = "";
  for (const part of [ui.answer, ui.reasoning, ui.tools, ui.error]) part.textContent = "";
});

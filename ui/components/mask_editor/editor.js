// SteelScan's mask editor: paint, erase or box-fill one class's mask at the strip's full resolution.
// Streamlit (components v2) calls the default export again whenever `data` changes, on the same parentElement,
// and runs the returned cleanup only on unmount; so one Editor lives per parentElement and reloads only when
// `data.token` (sheet, class, reset count) changes, never on the reruns its own strokes cause.
// The mask travels back as Severstal RLE (1-indexed start/length pairs over the column-major flattening),
// the same code as core.imaging.rle, which checks it on the Python side.

const editors = new WeakMap();
const UNDO_DEPTH = 30;
const MASK_ALPHA = 120;

export function rleDecode(rle, width, height) {
  const mask = new Uint8Array(width * height);
  const numbers = (rle || "").trim().split(/\s+/).filter(Boolean).map(Number);
  for (let i = 0; i + 1 < numbers.length; i += 2) {
    for (let f = numbers[i] - 1; f < numbers[i] - 1 + numbers[i + 1]; f++) {
      const x = Math.floor(f / height), y = f % height;
      if (x < width) mask[y * width + x] = 1;
    }
  }
  return mask;
}

export function rleEncode(mask, width, height) {
  const parts = [];
  let start = -1, f = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++, f++) {
      const on = mask[y * width + x] !== 0;
      if (on && start < 0) start = f;
      if (!on && start >= 0) { parts.push(start + 1, f - start); start = -1; }
    }
  }
  if (start >= 0) parts.push(start + 1, f - start);
  return parts.join(" ");
}

function hexToRgb(hex) {
  const ok = /^#[0-9a-fA-F]{6}$/.test(hex || "") ? hex : "#ff0000";
  return [1, 3, 5].map((i) => parseInt(ok.slice(i, i + 2), 16));
}

class Editor {
  constructor(root) {
    this.root = root;
    this.el = (selector) => root.querySelector(selector);
    this.picture = this.el("canvas.picture");
    this.canvas = this.el("canvas.mask");
    this.viewport = this.el(".viewport");
    this.stage = this.el(".stage");
    this.preview = this.el(".box-preview");
    this.cursor = this.el(".brush-cursor");
    this.sizeInput = this.el(".size input");
    this.status = this.el(".status");
    this.tool = "brush";
    this.zoom = "fit";
    this.undo = [];
    this.token = null;
    this.listeners = [];
    this.bind();
  }

  on(target, type, handler) {
    target.addEventListener(type, handler);
    this.listeners.push(() => target.removeEventListener(type, handler));
  }

  bind() {
    for (const button of this.root.querySelectorAll("button[data-tool]")) {
      this.on(button, "click", () => this.setTool(button.dataset.tool));
    }
    for (const button of this.root.querySelectorAll("button[data-zoom]")) {
      this.on(button, "click", () => this.setZoom(button.dataset.zoom));
    }
    for (const button of this.root.querySelectorAll("button[data-action]")) {
      this.on(button, "click", () => this.act(button.dataset.action));
    }
    this.on(this.sizeInput, "input", () => { this.el(".size output").textContent = this.sizeInput.value; });
    this.on(this.canvas, "pointerdown", (e) => this.down(e));
    this.on(this.canvas, "pointermove", (e) => this.move(e));
    this.on(this.canvas, "pointerup", (e) => this.up(e));
    this.on(this.canvas, "pointercancel", (e) => this.up(e));
    this.on(this.canvas, "pointerleave", () => { this.cursor.hidden = true; });
    this.resizer = new ResizeObserver(() => { if (this.zoom === "fit") this.layout(); });
    this.resizer.observe(this.viewport);
  }

  load(data, setStateValue) {
    this.setStateValue = setStateValue;
    this.token = data.token;
    this.width = data.width;
    this.height = data.height;
    this.className = data.class_name;
    this.rgb = hexToRgb(data.color);
    this.modelRle = data.model_rle || "";
    for (const canvas of [this.picture, this.canvas]) {
      canvas.width = this.width;
      canvas.height = this.height;
    }
    this.overlay = this.canvas.getContext("2d").createImageData(this.width, this.height);
    this.mask = rleDecode(data.start_rle, this.width, this.height);
    this.undo = [];
    const image = new Image();
    image.onload = () => this.picture.getContext("2d").drawImage(image, 0, 0, this.width, this.height);
    image.src = data.image;
    this.setTool(this.tool);
    this.setZoom(this.zoom);
    this.repaint(0, 0, this.width, this.height);
    this.count();
  }

  setTool(tool) {
    this.tool = tool;
    for (const button of this.root.querySelectorAll("button[data-tool]")) {
      button.classList.toggle("active", button.dataset.tool === tool);
      button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
    }
  }

  setZoom(zoom) {
    this.zoom = zoom;
    for (const button of this.root.querySelectorAll("button[data-zoom]")) {
      button.classList.toggle("active", button.dataset.zoom === zoom);
    }
    // Keep the middle of what was in view in the middle after zooming.
    const v = this.viewport;
    const cx = (v.scrollLeft + v.clientWidth / 2) / Math.max(1, v.scrollWidth);
    const cy = (v.scrollTop + v.clientHeight / 2) / Math.max(1, v.scrollHeight);
    this.layout();
    v.scrollLeft = cx * v.scrollWidth - v.clientWidth / 2;
    v.scrollTop = cy * v.scrollHeight - v.clientHeight / 2;
  }

  layout() {
    if (!this.width) return;
    const fit = Math.max(0.05, (this.viewport.clientWidth - 2) / this.width);
    this.scale = this.zoom === "fit" ? fit : Number(this.zoom);
    const w = `${Math.round(this.width * this.scale)}px`, h = `${Math.round(this.height * this.scale)}px`;
    for (const element of [this.picture, this.canvas, this.stage]) {
      element.style.width = w;
      element.style.height = h;
    }
  }

  point(event) {
    const box = this.canvas.getBoundingClientRect();
    const x = Math.floor(((event.clientX - box.left) / box.width) * this.width);
    const y = Math.floor(((event.clientY - box.top) / box.height) * this.height);
    return [Math.min(this.width - 1, Math.max(0, x)), Math.min(this.height - 1, Math.max(0, y))];
  }

  down(event) {
    if (event.button !== 0 || !this.mask) return;
    this.canvas.setPointerCapture(event.pointerId);
    this.undo.push(this.mask.slice());
    if (this.undo.length > UNDO_DEPTH) this.undo.shift();
    this.start = this.last = this.point(event);
    if (this.tool === "box") this.showBox(this.start, this.start);
    else this.stamp(...this.start);
  }

  move(event) {
    const here = this.point(event);
    this.showCursor(here);
    if (!this.start) return;
    if (this.tool === "box") { this.showBox(this.start, here); return; }
    const [x0, y0] = this.last, [x1, y1] = here;
    const step = Math.max(1, this.radius() / 2);
    const count = Math.ceil(Math.hypot(x1 - x0, y1 - y0) / step);
    for (let i = 1; i <= count; i++) {
      this.stamp(Math.round(x0 + ((x1 - x0) * i) / count), Math.round(y0 + ((y1 - y0) * i) / count));
    }
    this.last = here;
  }

  up(event) {
    if (!this.start) return;
    if (this.tool === "box") {
      const [x1, y1] = this.point(event);
      this.fill(this.start, [x1, y1]);
      this.preview.hidden = true;
    }
    this.start = this.last = null;
    this.emit();
  }

  radius() { return (Number(this.sizeInput.value) - 1) / 2; }

  stamp(cx, cy) {
    const r = this.radius(), value = this.tool === "eraser" ? 0 : 1;
    const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(this.width - 1, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(this.height - 1, Math.ceil(cy + r));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r + 0.5) this.mask[y * this.width + x] = value;
      }
    }
    this.repaint(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
  }

  fill([ax, ay], [bx, by]) {
    const x0 = Math.min(ax, bx), x1 = Math.max(ax, bx), y0 = Math.min(ay, by), y1 = Math.max(ay, by);
    for (let y = y0; y <= y1; y++) this.mask.fill(1, y * this.width + x0, y * this.width + x1 + 1);
    this.repaint(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
  }

  showCursor([x, y]) {
    // The brush's true footprint, so a 1 px brush at Fit zoom is not a guess.
    this.cursor.hidden = this.tool === "box";
    const s = this.scale, d = Math.max(3, Number(this.sizeInput.value) * s);
    Object.assign(this.cursor.style, {
      left: `${(x + 0.5) * s}px`, top: `${(y + 0.5) * s}px`, width: `${d}px`, height: `${d}px`,
    });
  }

  showBox([ax, ay], [bx, by]) {
    const s = this.scale;
    Object.assign(this.preview.style, {
      left: `${Math.min(ax, bx) * s}px`, top: `${Math.min(ay, by) * s}px`,
      width: `${(Math.abs(bx - ax) + 1) * s}px`, height: `${(Math.abs(by - ay) + 1) * s}px`,
    });
    this.preview.hidden = false;
  }

  act(action) {
    if (!this.mask) return;
    if (action === "undo") {
      if (!this.undo.length) return;
      this.mask = this.undo.pop();
    } else {
      this.undo.push(this.mask.slice());
      this.mask = action === "clear" ? new Uint8Array(this.width * this.height)
        : rleDecode(this.modelRle, this.width, this.height);
    }
    this.repaint(0, 0, this.width, this.height);
    this.emit();
  }

  repaint(x, y, w, h) {
    const pixels = this.overlay.data, [r, g, b] = this.rgb;
    for (let row = y; row < y + h; row++) {
      for (let col = x; col < x + w; col++) {
        const i = row * this.width + col, o = i * 4;
        pixels[o] = r; pixels[o + 1] = g; pixels[o + 2] = b;
        pixels[o + 3] = this.mask[i] ? MASK_ALPHA : 0;
      }
    }
    this.canvas.getContext("2d").putImageData(this.overlay, 0, 0, x, y, w, h);
  }

  count() {
    let marked = 0;
    for (let i = 0; i < this.mask.length; i++) marked += this.mask[i];
    this.status.textContent = `${this.className}: ${marked.toLocaleString("en")} px marked`;
  }

  emit() {
    this.count();
    this.setStateValue("mask", { token: this.token, rle: rleEncode(this.mask, this.width, this.height) });
  }

  destroy() {
    this.resizer.disconnect();
    for (const off of this.listeners) off();
  }
}

export default function mount(component) {
  const { data, parentElement, setStateValue } = component;
  let editor = editors.get(parentElement);
  if (!editor) {
    editor = new Editor(parentElement);
    editors.set(parentElement, editor);
  }
  if (data && editor.token !== data.token) editor.load(data, setStateValue);
  else editor.setStateValue = setStateValue;
  return () => {
    editor.destroy();
    editors.delete(parentElement);
  };
}

// Click decoding in the browser: ONNX Runtime Web runs sam-compose's exported prompt decoder on
// an image embedding computed once by the server. Defines window.samComposeOnnx (idempotent).
//
// setImage(info, files): info from sam_compose.app.onnx_click (sizes, frames, file paths),
// files = [image.png, one float32 .bin per encoder output, in info.outputs order].
// A click adds a foreground point (shift/alt-click: background) and decodes without any
// request to the server; window.samComposeOnnx.last holds the latest timing and mask.
(() => {
  if (window.samComposeOnnx) return;
  const LOWRES = 256;
  const S = { ort: null, session: null, sessionUrl: null, info: null, feeds: null, image: null,
              points: [], busy: false, axes: null };

  const el = (id) => document.getElementById(id);
  const status = (text) => { const s = el("sc-onnx-status"); if (s) s.innerText = text; };

  function loadScript(url) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = url;
      s.onload = resolve;
      s.onerror = () => reject(new Error("could not load " + url));
      document.head.appendChild(s);
    });
  }

  async function ensureRuntime(base, info) {
    if (!S.ort) {
      S.ort = (async () => {
        if (!window.ort) await loadScript(base + info.ort_script);
        window.ort.env.wasm.wasmPaths = base + info.ort_wasm_dir;
        window.ort.env.wasm.numThreads = 1;  // threads need cross-origin isolation, which the page lacks
        return window.ort;
      })();
    }
    return S.ort;
  }

  async function ensureSession(ort, url) {
    if (S.sessionUrl !== url) {
      // the manifest's runtime hint: keep Add and LayerNormalization apart (the fused kernel is slower here)
      S.session = await ort.InferenceSession.create(url, {
        executionProviders: ["wasm"], graphOptimizationLevel: "all",
        extra: { optimization: { disable_specified_optimizers: "SkipLayerNormFusion" } } });
      S.sessionUrl = url;
    }
    return S.session;
  }

  async function fetchFloat32(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error("could not fetch " + url + " (" + r.status + ")");
    return new Float32Array(await r.arrayBuffer());
  }

  // One axis of the low-res -> image map as taps: out[o] = sum_k w[k][o] * in[idx[k][o]].
  // Bilinear, half-pixel centres, like torch's interpolate(align_corners=False).
  function bilinear(nIn, nOut) {
    const i0 = new Int32Array(nOut), i1 = new Int32Array(nOut), lam = new Float32Array(nOut);
    const scale = nIn / nOut;
    for (let o = 0; o < nOut; o++) {
      const src = Math.max((o + 0.5) * scale - 0.5, 0);
      const a = Math.min(Math.floor(src), nIn - 1);
      i0[o] = a; i1[o] = Math.min(a + 1, nIn - 1); lam[o] = src - a;
    }
    return { i0, i1, lam };
  }

  function axis(nOrig, nResized, frame) {
    const idx = [], w = [];
    for (let k = 0; k < 4; k++) { idx.push(new Int32Array(nOrig)); w.push(new Float32Array(nOrig)); }
    if (frame === "full") {  // SAM 2: the 256 logits cover the whole image
      const b = bilinear(LOWRES, nOrig);
      for (let o = 0; o < nOrig; o++) {
        idx[0][o] = b.i0[o]; w[0][o] = 1 - b.lam[o]; idx[1][o] = b.i1[o]; w[1][o] = b.lam[o];
      }
      return { idx, w };
    }
    // padded frame: 256 -> 1024, crop to the resized size, -> original size (composed)
    const up = bilinear(LOWRES, 1024), down = bilinear(nResized, nOrig);
    for (let o = 0; o < nOrig; o++) {
      const parts = [[down.i0[o], 1 - down.lam[o]], [down.i1[o], down.lam[o]]];
      let k = 0;
      for (const [j, wj] of parts) {
        idx[k][o] = up.i0[j]; w[k][o] = wj * (1 - up.lam[j]); k++;
        idx[k][o] = up.i1[j]; w[k][o] = wj * up.lam[j]; k++;
      }
    }
    return { idx, w };
  }

  function upsampleMask(low, h, w) {
    const ax = S.axes;
    let rows = 0;
    for (let k = 0; k < 4; k++) for (let y = 0; y < h; y++) if (ax.y.w[k][y] !== 0) rows = Math.max(rows, ax.y.idx[k][y] + 1);
    const tmp = new Float32Array(rows * w);
    for (let r = 0; r < rows; r++) {
      const base = r * LOWRES;
      for (let x = 0; x < w; x++) {
        let v = 0;
        for (let k = 0; k < 4; k++) v += ax.x.w[k][x] * low[base + ax.x.idx[k][x]];
        tmp[r * w + x] = v;
      }
    }
    const mask = new Uint8Array(h * w);
    let area = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let v = 0;
        for (let k = 0; k < 4; k++) v += ax.y.w[k][y] * tmp[ax.y.idx[k][y] * w + x];
        if (v > 0) { mask[y * w + x] = 1; area++; }
      }
    }
    return { mask, area };
  }

  function draw(mask) {
    const c = el("sc-onnx-canvas");
    const ctx = c.getContext("2d");
    ctx.drawImage(S.image, 0, 0);
    if (mask) {
      const data = ctx.getImageData(0, 0, c.width, c.height);
      const px = data.data;
      for (let i = 0; i < mask.length; i++) {
        if (mask[i]) {
          px[4 * i] = 0.5 * px[4 * i] + 0.5 * 30;
          px[4 * i + 1] = 0.5 * px[4 * i + 1] + 0.5 * 144;
          px[4 * i + 2] = 0.5 * px[4 * i + 2] + 0.5 * 255;
        }
      }
      ctx.putImageData(data, 0, 0);
    }
    for (const [x, y, label] of S.points) {
      ctx.beginPath();
      ctx.arc(x, y, 5, 0, 2 * Math.PI);
      ctx.fillStyle = label ? "#22c55e" : "#ef4444";
      ctx.fill();
      ctx.strokeStyle = "#ffffff";
      ctx.stroke();
    }
  }

  async function decode(t0) {
    const ort = window.ort, info = S.info;
    const [h, w] = info.image_size;
    const pts = S.points.map(([x, y, l]) => [x, y, l]);
    pts.push([0, 0, -1]);  // clicks only, no box: every family wants one padding point
    const coords = new Float32Array(pts.length * 2), labels = new Float32Array(pts.length);
    const sx = info.lowres_frame === "full" ? 1024 / w : 1024 / Math.max(h, w);
    const sy = info.lowres_frame === "full" ? 1024 / h : 1024 / Math.max(h, w);
    pts.forEach(([x, y, l], i) => {
      coords[2 * i] = l === -1 ? 0 : x * sx; coords[2 * i + 1] = l === -1 ? 0 : y * sy; labels[i] = l;
    });
    const feeds = Object.assign({}, S.feeds, {
      point_coords: new ort.Tensor("float32", coords, [1, pts.length, 2]),
      point_labels: new ort.Tensor("float32", labels, [1, pts.length]),
      mask_input: new ort.Tensor("float32", new Float32Array(LOWRES * LOWRES), [1, 1, LOWRES, LOWRES]),
      has_mask_input: new ort.Tensor("float32", new Float32Array(1), [1]),
    });
    const t1 = performance.now();
    const out = await S.session.run(feeds);
    const decodeMs = performance.now() - t1;
    const iou = out.iou_predictions.data, low = out.low_res_masks.data;
    const multimask = !!(el("sc-onnx-multimask") && el("sc-onnx-multimask").querySelector("input:checked"));
    let row = 0;
    if (multimask) { row = 1; for (let r = 2; r < 4; r++) if (iou[r] > iou[row]) row = r; }
    const { mask, area } = upsampleMask(low.subarray(row * LOWRES * LOWRES, (row + 1) * LOWRES * LOWRES), h, w);
    draw(mask);
    const ms = performance.now() - t0;
    S.last = { ms, decodeMs, area, row, score: iou[row], points: S.points.map((p) => p.slice()) };
    window.samComposeOnnx.last = S.last;
    window.samComposeOnnx.lastMask = mask;
    status(`mask: ${area} px, score ${iou[row].toFixed(3)} · click to mask ${ms.toFixed(1)} ms ` +
           `(decoder ${decodeMs.toFixed(1)} ms) in this browser, no server round trip`);
  }

  async function onClick(ev) {
    if (!S.session || !S.feeds || S.busy) return;
    const t0 = performance.now();
    const c = ev.currentTarget, rect = c.getBoundingClientRect();
    const x = (ev.clientX - rect.left) * c.width / rect.width;
    const y = (ev.clientY - rect.top) * c.height / rect.height;
    S.points.push([x, y, ev.shiftKey || ev.altKey ? 0 : 1]);
    S.busy = true;
    try { await decode(t0); } catch (e) { status("error: " + e.message); } finally { S.busy = false; }
  }

  async function setImage(info, files) {
    window.samComposeOnnx.ready = false;
    if (!info || !info.ready) { status((info && info.message) || ""); return; }
    try {
      const first = files[0].url, cut = first.indexOf("gradio_api/file=");
      const base = first.slice(0, cut);  // the server's root, whatever path the page is mounted on
      status("loading ONNX Runtime Web and the decoder ...");
      const ort = await ensureRuntime(base, info);
      await ensureSession(ort, base + info.decoder);
      const feeds = {};
      for (let i = 0; i < info.outputs.length; i++) {
        const o = info.outputs[i];
        feeds[o.name] = new ort.Tensor("float32", await fetchFloat32(files[i + 1].url), o.shape);
      }
      const img = new Image();
      img.src = first;
      await img.decode();
      const [h, w] = info.image_size;
      const c = el("sc-onnx-canvas");
      c.width = w; c.height = h;
      if (!c.dataset.scBound) { c.addEventListener("click", onClick); c.dataset.scBound = "1"; }
      S.info = info; S.feeds = feeds; S.image = img; S.points = [];
      S.axes = { y: axis(h, info.resized_size[0], info.lowres_frame), x: axis(w, info.resized_size[1], info.lowres_frame) };
      draw(null);
      window.samComposeOnnx.ready = true;
      status(`ready: ${info.name} (${w}x${h}), embedding from the server (${info.embed_ms.toFixed(0)} ms there). ` +
             "Click on an object; shift-click adds a background point.");
    } catch (e) {
      status("error: " + e.message);
    }
  }

  function clear() { S.points = []; if (S.image) draw(null); status("cleared: click on an object"); }

  window.samComposeOnnx = { setImage, clear, ready: false, last: null, lastMask: null };
})();

// png_decode.js - a minimal PNG reader for the node check of the WebAssembly
// build (tests/web/node_check.js): 8-bit gray, gray+alpha, RGB and RGBA, not
// interlaced (the fixture images), through node's zlib. The page itself lets
// the browser decode images.
'use strict';
const zlib = require('zlib');

function paeth(a, b, c) {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// -> {w, h, c, pix: Uint8Array h*w*c interleaved}
function decodePng(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let pos = 8, w = 0, h = 0, depth = 0, ctype = 0, interlace = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos), type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      w = data.readUInt32BE(0); h = data.readUInt32BE(4);
      depth = data[8]; ctype = data[9]; interlace = data[12];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  const c = {0: 1, 2: 3, 4: 2, 6: 4}[ctype];
  if (depth !== 8 || !c || interlace) throw new Error(`unsupported PNG (depth ${depth}, type ${ctype})`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = w * c, pix = new Uint8Array(h * stride);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)], src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= c ? pix[y * stride + x - c] : 0, b = y ? pix[(y - 1) * stride + x] : 0;
      const d = x >= c && y ? pix[(y - 1) * stride + x - c] : 0;
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, d);
      pix[y * stride + x] = (src[x] + pred) & 255;
    }
  }
  return {w, h, c, pix};
}

module.exports = {decodePng};

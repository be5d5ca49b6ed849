// A QR code drawn as SVG elements (no markup strings, no inline style), from the vendored
// qrcode-generator (vendor/qrcode_generator, MIT, its LICENSE beside it).
import qrcode from "./vendor/qrcode_generator/qrcode.js";

const svgNamespace = "http://www.w3.org/2000/svg";
const quietZoneModules = 4; // the margin the QR standard asks for

export function qrSvg(text, label) {
  const code = qrcode(0, "M");
  code.addData(text, "Byte");
  code.make();
  const count = code.getModuleCount();
  const size = count + quietZoneModules * 2;
  const svg = document.createElementNS(svgNamespace, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("class", "qr");
  svg.setAttribute("shape-rendering", "crispEdges");
  const background = document.createElementNS(svgNamespace, "rect");
  background.setAttribute("width", String(size));
  background.setAttribute("height", String(size));
  background.setAttribute("fill", "#fff");
  svg.append(background);
  let path = "";
  for (let row = 0; row < count; row += 1) {
    for (let column = 0; column < count; column += 1) {
      if (code.isDark(row, column)) path += `M${column + quietZoneModules} ${row + quietZoneModules}h1v1h-1z`;
    }
  }
  const modules = document.createElementNS(svgNamespace, "path");
  modules.setAttribute("d", path);
  modules.setAttribute("fill", "#111");
  svg.append(modules);
  return svg;
}

export function duration(s: number | null | undefined): string {
  if (s == null || !isFinite(s)) return "";
  const t = Math.max(0, Math.floor(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function bitrate(bps: number | null | undefined): string {
  if (!bps) return "—";
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbps` : `${Math.round(bps / 1e3)} kbps`;
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return "";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function count(n: number | null | undefined, one: string, many: string): string {
  const v = n ?? 0;
  return `${v.toLocaleString()} ${v === 1 ? one : many}`;
}

/** A figure with at most `digits` decimals, none when whole: 30, 29.97. */
function figure(n: number, digits: number): string {
  return String(Number(n.toFixed(digits)));
}

export function fps(n: number | null | undefined): string {
  return n == null || !isFinite(n) ? "—" : `${figure(n, 2)} fps`;
}

/** A keyframe interval: "every 2 s". */
export function every(s: number | null | undefined): string {
  return s == null || !isFinite(s) ? "—" : `every ${figure(s, 1)} s`;
}

export function resolution(w: number | null | undefined, h: number | null | undefined): string {
  return w && h ? `${w}×${h}` : "—";
}

const CODECS: [string, string][] = [
  ["avc1", "H.264"],
  ["avc3", "H.264"],
  ["hvc1", "HEVC"],
  ["hev1", "HEVC"],
  ["av01", "AV1"],
  ["vp09", "VP9"],
  ["mp4a.40", "AAC"],
  ["mp4a.69", "MP3"],
  ["mp4a.6b", "MP3"],
  ["opus", "Opus"],
  ["ac-3", "AC-3"],
  ["ec-3", "E-AC-3"],
];

/** A codec string (RFC 6381, "avc1.64001f") as people say it ("H.264"). */
export function codecName(c: string | null | undefined): string {
  if (!c) return "—";
  const k = c.toLowerCase();
  return CODECS.find(([prefix]) => k.startsWith(prefix))?.[1] ?? c;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** 1536 → "1.5 KB", 1.2e15 → "1,091 TB" (binary multiples, as file managers show them; thousands separated). */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : 1;
  return `${v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${UNITS[i]}`;
}

const moneyFmt = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });

/** 12345.6 → "$12,345.60". */
export function formatCost(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '—' : moneyFmt.format(n);
}

// No `timeZone`: dates show in the browser's own zone.
const dateFmt = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric' });
const dateTimeFmt = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
const dateTimeYearFmt = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
/** To the second, with the zone's name: what a date shows on hover. */
const exactFmt = new Intl.DateTimeFormat('en-US', { dateStyle: 'full', timeStyle: 'long' });

const asDate = (v: string | Date): Date => (v instanceof Date ? v : new Date(v));

export function formatDate(iso: string | Date | null | undefined): string {
  return iso ? dateFmt.format(asDate(iso)) : '—';
}

/** "Jul 15, 2:34 PM" this year, "Jul 15, 2030, 2:34 PM" another year, in the browser's zone. */
export function formatDateTime(iso: string | Date | null | undefined): string {
  if (!iso) return '—';
  const d = asDate(iso);
  return (d.getFullYear() === new Date().getFullYear() ? dateTimeFmt : dateTimeYearFmt).format(d);
}

/** "Tuesday, July 15, 2031 at 2:34:56 PM GMT+2": the exact time, for a date's hover text. */
export function formatExact(iso: string | Date): string {
  return exactFmt.format(asDate(iso));
}

export function formatNumber(n: number | null | undefined, digits = 4): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return Number(n.toPrecision(digits)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}

export function formatInt(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US');
}

/** 6_815_744 → "6.8M". */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function relativeTime(iso: string | Date): string {
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return formatDate(iso);
}

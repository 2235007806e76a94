import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { onCleanup } from 'solid-js';
import { formatNumber } from '../lib/format.ts';

/** A series' value in the live legend: the loss, formatted like the rest of the page. */
export const lossValue = (_u: uPlot, v: number | null) => formatNumber(v);

/**
 * Per series, the index of its last point with a value: the x series' last index, and for a loss series the
 * last step it reported (validation runs less often than training, so its last index may hold null).
 */
function lastIndexes(data: uPlot.AlignedData): (number | null)[] {
  const last = data[0].length - 1;
  return data.map((values, i) => {
    if (last < 0) return null;
    if (i === 0) return last;
    for (let j = last; j >= 0; j--) if (values[j] !== null && values[j] !== undefined) return j;
    return null;
  });
}

/**
 * Shows the last point's values in the legend whenever the cursor is not over the plot (uPlot shows "--"
 * then): on first draw, and each time the cursor leaves.
 */
function legendAtLastPoint(u: uPlot): void {
  if (u.cursor.idx === null || u.cursor.idx === undefined) u.setLegend({ idxs: lastIndexes(u.data) }, false);
}

/**
 * A uPlot loss chart in `host`, shared by a model's chart and the compare page's: step on x, loss on y,
 * `series` after the step one, dragging zooms on x. Its width follows the host; its height is `narrow`
 * below 500 px and `wide` above. The legend shows the last point's values until the cursor is over the plot.
 * Call it inside an effect or onMount: the plot goes with that owner.
 */
export function mountLossPlot(
  host: HTMLDivElement,
  series: uPlot.Series[],
  data: uPlot.AlignedData,
  heights: { narrow: number; wide: number },
): void {
  const height = () => (host.clientWidth < 500 ? heights.narrow : heights.wide);
  const axis = { stroke: '#4b5563', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e5e7eb' } };
  const plot = new uPlot(
    {
      width: Math.max(host.clientWidth, 240),
      height: height(),
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      hooks: { ready: [legendAtLastPoint], setLegend: [legendAtLastPoint] },
      scales: { x: { time: false } },
      axes: [
        { label: 'Step', ...axis },
        { label: 'Loss', ...axis, size: 56 },
      ],
      series: [{ label: 'Step' }, ...series],
    },
    data,
    host,
  );
  const ro = new ResizeObserver(() => {
    if (host.clientWidth > 0) plot.setSize({ width: host.clientWidth, height: height() });
  });
  ro.observe(host);
  onCleanup(() => {
    ro.disconnect();
    plot.destroy();
  });
}

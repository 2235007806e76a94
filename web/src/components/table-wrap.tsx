import { createSignal, type JSX, onCleanup, onMount } from 'solid-js';

/**
 * A table's box that scrolls sideways when the table is wider than the screen. While it does, it is a Tab stop
 * (so a keyboard user can scroll it with the arrow keys: WCAG 2.1.1, axe's scrollable-region-focusable); while
 * the table fits, it is not, so a desktop gets no useless stop.
 */
export function TableWrap(props: { class?: string; children: JSX.Element }) {
  let box!: HTMLDivElement;
  const [scrolls, setScrolls] = createSignal(false);
  onMount(() => {
    const check = () => setScrolls(box.scrollWidth > box.clientWidth + 1);
    const observer = new ResizeObserver(check);
    observer.observe(box);
    // The table grows when its rows arrive or change, while the box keeps its width.
    if (box.firstElementChild) observer.observe(box.firstElementChild);
    onCleanup(() => observer.disconnect());
  });
  return (
    <div ref={box} class={props.class ? `table-wrap ${props.class}` : 'table-wrap'} tabindex={scrolls() ? 0 : undefined}>
      {props.children}
    </div>
  );
}

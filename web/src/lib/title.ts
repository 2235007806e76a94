import { createEffect, onCleanup } from 'solid-js';

const APP = 'LoRA Models';

/**
 * Gives the page its own document title, "support-bot · LoRA Models" (tabs, history and screen readers tell
 * pages apart by it). `title` may change (a model's name arrives with its query); until it is known the title
 * is the app's name, and so it is again when the page goes, unless the next page has set its own already
 * (the router may mount it first).
 */
export function usePageTitle(title: () => string | null | undefined): void {
  let mine = APP;
  createEffect(() => {
    const t = title();
    mine = t ? `${t} · ${APP}` : APP;
    document.title = mine;
  });
  onCleanup(() => {
    if (document.title === mine) document.title = APP;
  });
}

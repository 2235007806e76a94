import { A } from '@solidjs/router';
import { usePageTitle } from '../lib/title.ts';

/** Unknown paths, and models that do not exist or belong to someone else (they look the same). */
export default function NotFound(props: { title?: string; message?: string }) {
  usePageTitle(() => props.title ?? 'Page not found');
  return (
    <section class="panel state" aria-labelledby="nf-title">
      <p class="eyebrow">404</p>
      <h1 id="nf-title">{props.title ?? 'Page not found'}</h1>
      <p class="muted">{props.message ?? 'There is nothing at this address.'}</p>
      <A href="/models" class="btn btn-primary">
        Back to your models
      </A>
    </section>
  );
}

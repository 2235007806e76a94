import { A } from '@solidjs/router';

/** Unknown paths, and models that do not exist or belong to someone else (they look the same). */
export default function NotFound(props: { title?: string; message?: string }) {
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

import { signIn } from '../lib/auth.ts';
import { AuthForm } from './auth-form.tsx';
import { usePageTitle } from '../lib/title.ts';

export default function SignIn() {
  usePageTitle(() => 'Sign in');
  return (
    <AuthForm
      title="Sign in"
      submit="Sign in"
      fields={[
        { name: 'email', label: 'Email', type: 'email', autocomplete: 'email' },
        { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password' },
      ]}
      action={(v) => signIn(v.email!, v.password!)}
      alternate={{ text: 'No account yet?', link: 'Create one', href: '/sign-up' }}
    />
  );
}

import { signUp } from '../lib/auth.ts';
import { AuthForm } from './auth-form.tsx';
import { usePageTitle } from '../lib/title.ts';

export default function SignUp() {
  usePageTitle(() => 'Create your account');
  return (
    <AuthForm
      title="Create your account"
      submit="Create account"
      fields={[
        { name: 'name', label: 'Name', type: 'text', autocomplete: 'name' },
        { name: 'email', label: 'Email', type: 'email', autocomplete: 'email' },
        { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', minLength: 8, hint: 'At least 8 characters.' },
      ]}
      action={(v) => signUp(v.name!, v.email!, v.password!)}
      alternate={{ text: 'Already have an account?', link: 'Sign in', href: '/sign-in' }}
    />
  );
}

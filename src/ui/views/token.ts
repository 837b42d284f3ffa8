import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

interface Props {
  onToken: (value: string) => void;
  refused: boolean;
  why: string;
}

/** Asks for the token once; it is kept in this tab's sessionStorage and sent as a header. */
export function TokenForm({ onToken, refused, why }: Props) {
  const [value, setValue] = useState('');
  const submit = (event: Event) => {
    event.preventDefault();
    if (value !== '') onToken(value);
  };
  return html`
    <form class="token" onSubmit=${submit}>
      <p>${why}${refused ? ' The token given was refused.' : ''}</p>
      <label for="token-input">Token</label>
      <input
        id="token-input"
        type="password"
        autocomplete="off"
        value=${value}
        onInput=${(event: Event) => setValue((event.target as HTMLInputElement).value)}
      />
      <button type="submit">Use token</button>
    </form>
  `;
}

import { useEffect, useState } from 'react';

export type Route =
  | { name: 'inbox'; chatId: number | null }
  | { name: 'contacts' }
  | { name: 'customer'; id: number }
  | { name: 'settings' }
  | { name: 'stats' }
  | { name: 'channels' };

/** Hash routes: the server serves one static index, so paths stay after '#'. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('?')[0].split('/').filter(Boolean);
  const id = (s: string | undefined) => (s && /^\d+$/.test(s) ? Number(s) : null);
  switch (parts[0]) {
    case 'contacts': {
      const n = id(parts[1]);
      return n === null ? { name: 'contacts' } : { name: 'customer', id: n };
    }
    case 'settings':
      return { name: 'settings' };
    case 'stats':
      return { name: 'stats' };
    case 'channels':
      return { name: 'channels' };
    case 'inbox':
    default:
      return { name: 'inbox', chatId: parts[0] === 'inbox' ? id(parts[1]) : null };
  }
}

export function href(r: Route): string {
  switch (r.name) {
    case 'inbox':
      return r.chatId === null ? '#/inbox' : `#/inbox/${r.chatId}`;
    case 'contacts':
      return '#/contacts';
    case 'customer':
      return `#/contacts/${r.id}`;
    case 'settings':
      return '#/settings';
    case 'stats':
      return '#/stats';
    case 'channels':
      return '#/channels';
  }
}

export function go(r: Route): void {
  location.hash = href(r);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

import { createContext, useContext, useEffect, useRef } from 'react';
import type { ApiClient } from './api/client';
import type { DialRequest } from './calls/Dialer';
import type { Channel, DenwaEvent, Me, MeChannel, Member, Settings, Tag, Team } from './api/types';

export interface ConsoleData {
  api: ApiClient;
  me: Me;
  cid: number;
  membership: MeChannel;
  channel: Channel | null;
  members: Member[];
  teams: Team[];
  tags: Tag[];
  reloadTags: () => void;
  setSettings: (s: Settings) => void;
  subscribe: (fn: (e: DenwaEvent) => void) => () => void;
  staffName: (id: number | null | undefined) => string | null;
  teamName: (id: number | null | undefined) => string | null;
  timeZone: string | undefined;
  /** Opens the dialer, prefilled (SPEC OUT-1: from a customer's page, a chat, recent calls). */
  dial: (r: DialRequest) => void;
}

export const ConsoleContext = createContext<ConsoleData | null>(null);

export function useConsole(): ConsoleData {
  const c = useContext(ConsoleContext);
  if (!c) throw new Error('useConsole outside the console');
  return c;
}

/** Calls `fn` for every pushed event of the current channel while mounted. */
export function useEvents(fn: (e: DenwaEvent) => void): void {
  const { subscribe } = useConsole();
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => subscribe((e) => ref.current(e)), [subscribe]);
}

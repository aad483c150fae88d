// Shapes from docs/API.md ("Shapes"). Times are RFC 3339 strings in UTC; ids are integers.

export type Role = 'owner' | 'manager' | 'operator';
export type ChatState = 'opened' | 'snoozed' | 'closed';
export type Medium = 'chat' | 'phone' | 'voice' | 'video';
export type Locale = 'ja' | 'en';

export interface Staff {
  id: number;
  email: string;
  name: string;
}

export interface Settings {
  unassigned_call_notification: boolean;
  do_not_disturb: boolean;
  auto_mute_on_join: boolean;
}
export type SettingKey = keyof Settings;

/** A channel API key for the open API and the OData feed (the secret is never listed). */
export interface ApiKey {
  id: number;
  name: string;
  access_key: string;
  created_at: string;
}

/** A key just created: its secret, shown this once. */
export interface ApiKeyCreated {
  key: ApiKey;
  secret: string;
}

/** My SIP softphone account (`/api/v1/me/sip-account`). */
export interface SipAccount {
  staff_id: number;
  username: string;
  password: string;
}

export interface MeChannel {
  id: number;
  name: string;
  role: Role;
  operator_seat: boolean;
  locale: string;
}

export interface Me {
  staff: Staff;
  settings: Settings;
  channels: MeChannel[];
}

export interface Channel {
  id: number;
  name: string;
  region: string;
  time_zone: string;
  locale: string;
  ring_profile_fields: string[];
  phone_numbers: string[];
}

export interface Member {
  staff: Staff;
  role: Role;
  operator_seat: boolean;
  team_ids: number[];
}

export interface Team {
  id: number;
  name: string;
  member_ids: number[];
}

export interface Tag {
  name: string;
}

export interface Phone {
  number: string;
  display: string;
  mobile: boolean;
}

export interface Customer {
  id: number;
  name: string;
  kind: 'lead' | 'member';
  blocked: boolean;
  phones: Phone[];
  profile: Record<string, string>;
  created_at: string;
  updated_at: string;
}

export interface CustomerInput {
  name?: string;
  kind?: 'lead' | 'member';
  blocked?: boolean;
  phones?: { number: string; mobile?: boolean }[];
  profile?: Record<string, string>;
}

/** A contact file's import plan (SPEC OUT-6; `POST …/contacts/import`). */
export type ImportAction = 'join' | 'create' | 'skip';
export type SkipReason = 'no_number' | 'invalid_number' | 'duplicate_in_file';
export type NumberIssue = 'invalid' | 'duplicate_in_file' | 'other_customer' | 'too_many';
export type ColumnRole = 'name' | 'given_name' | 'middle_name' | 'family_name' | 'company' | 'phone';

export interface ImportNumber {
  number: string;
  display: string;
  /** Already the joined customer's; otherwise it is saved. */
  known: boolean;
  mobile: boolean | null;
}

export interface PlannedContact {
  /** Card number (vCard) or line (CSV). */
  index: number;
  name: string;
  numbers: ImportNumber[];
  action: ImportAction;
  customer: { id: number; name: string; blocked: boolean } | null;
  sets_name: boolean;
  skip_reason: SkipReason | null;
  problems: { input: string; number: string | null; issue: NumberIssue; detail: string }[];
}

export interface ImportPlan {
  format: 'vcard' | 'csv';
  encoding: string;
  columns: { header: string; column: number; role: ColumnRole }[];
  ignored_columns: string[];
  contacts: PlannedContact[];
  counts: { contacts: number; join: number; updated: number; create: number; skip: number };
  applied: boolean;
  digest: string;
}

export interface ChatSummary {
  id: number;
  state: ChatState;
  medium: Medium;
  source: string;
  customer: { id: number; name: string; kind: 'lead' | 'member'; phones: Phone[] };
  assignee_id: number | null;
  team_id: number | null;
  tags: string[];
  snoozed_until: string | null;
  created_at: string;
  updated_at: string;
  preview: string | null;
}

export interface ChatPage {
  chats: ChatSummary[];
  /** Cursor for `before`; docs/API.md says a chat id, the server sends an opaque string. Passed back verbatim. */
  next_before: number | string | null;
  /** With a keyword: the line of each listed chat that matched it (none for a name or number match). */
  matches?: ChatMatch[];
}

/** A piece of a matching line; `mark` parts matched the keyword. Render as text. */
export interface SnippetPart {
  text: string;
  mark: boolean;
}

/** The line of a chat that matched the inbox keyword (message, note or call transcript). */
export interface ChatMatch {
  chat_id: number;
  kind: 'message' | 'note' | 'transcript';
  /** `customer` or a staff id; null for integrations. */
  speaker: string | null;
  offset_ms: number | null;
  at: string;
  snippet: SnippetPart[];
}

/** One call as the store keeps it (`GET …/chats/{chat}/calls`); the fields the console reads. */
export interface CallRecord {
  id: number;
  channel_id: number;
  chat_id: number;
  direction: string;
  customer_id: number | null;
  staff_id: number | null;
  started_at: string;
  answered_at: string | null;
  /** `null` while live. */
  ended_at: string | null;
  participants: number[];
  /** Where its recording lives on the server; null when the call was not recorded. */
  recording: string | null;
}

export type RecordingState = 'pending' | 'ready' | 'failed';
export type TranscriptState = 'pending' | 'running' | 'done' | 'failed' | 'off';

/** A line of a call transcript: who said it and when (ms from the start of the recording). */
export interface TranscriptLine {
  /** `customer`, or the id of the staff member who said it. */
  speaker: string;
  offset_ms: number;
  end_ms: number;
  text: string;
}

/** A recorded call's MP3 and transcript (`GET …/calls/{id}/recording`, SPEC RC-1..3). */
export interface Recording {
  call_id: number;
  channel_id: number;
  chat_id: number;
  mp3: RecordingState;
  duration_ms: number | null;
  mp3_bytes: number | null;
  transcript: TranscriptState;
  tracks_done: number;
  tracks_total: number;
  language: string | null;
  error: string | null;
  lines: TranscriptLine[];
}

export interface Message {
  id: number;
  chat_id: number;
  kind: 'note' | 'customer' | 'staff';
  author_staff_id: number | null;
  body: string;
  created_at: string;
}

export interface DenwaEvent {
  id: number;
  /** null for a private event (settings_changed), which only its actor receives. */
  channel_id: number | null;
  chat_id: number | null;
  kind: string;
  actor_staff_id: number | null;
  at: string;
  data: EventData;
}

/** The union of all `data` fields of the documented event kinds; each kind fills some. */
export interface EventData {
  chat?: ChatSummary;
  message?: Message;
  customer?: Customer;
  customer_id?: number;
  team?: Team;
  team_id?: number;
  channel?: Channel;
  staff_id?: number;
  settings?: Settings;
  [other: string]: unknown;
}

export interface ChatDetail {
  chat: ChatSummary;
  customer: Customer;
  timeline: DenwaEvent[];
}

export interface LoginResponse {
  token: string;
  staff: Staff;
}

/**
 * What the events WebSocket pushes: `event` frames (docs/API.md), plus — as the server sends them —
 * a `hello` on connect and `resync` when this client fell behind and must reload.
 */
export type EventFrame = { type: 'event'; event: DenwaEvent } | { type: 'resync' } | { type: 'hello'; staff_id?: number };

/** What a ring shows (SPEC IN-2): carried in `call_ringing` / `call_invited` events as `data.ring`. */
export interface RingInfo {
  call_id: number;
  channel_id: number;
  chat_id: number;
  /** `outbound` for a call staff placed (then `caller` is the number called). */
  direction?: 'outbound';
  placed_by?: number;
  customer: { id: number; name: string; kind: string; known: boolean };
  caller: string | null;
  caller_display: string | null;
  dialled: string | null;
  /** The channel's up-to-3 chosen profile fields (in its order) and the caller's values. */
  profile_fields: { field: string; value: string }[];
}

/** A live call as `/api/v1/me/calls` lists it (a console that reloads mid-call). */
export interface LiveCall {
  call_id: number;
  channel_id: number;
  chat_id: number;
  state: 'ringing' | 'invited' | 'joined' | 'dialing';
  participants: number[];
  on_hold: boolean;
  ring: RingInfo;
}

/** Placing a call from the console (SPEC OUT-1, OUT-3, OUT-4). */
export interface PlaceCallBody {
  to: string;
  sdp: string;
  customer_id?: number;
  from_chat_id?: number;
  confirm_blocked?: boolean;
}

export interface PlacedCall {
  call_id: number;
  chat_id: number;
  customer_id: number;
  sdp: string;
}

/** A number as the channel's region reads it, and whose it is (SPEC OUT-2). */
export interface DialLookup {
  e164: string | null;
  display: string | null;
  error: string | null;
  customer: { id: number; name: string; kind: string; blocked: boolean } | null;
}

/** One of my recent calls (the dialer's call-back list). */
export interface RecentCall {
  call_id: number;
  chat_id: number;
  direction: 'inbound' | 'outbound';
  number: string;
  display: string;
  customer_id: number | null;
  customer_name: string;
  started_at: string;
  outcome: string | null;
}

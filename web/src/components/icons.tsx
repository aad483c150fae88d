import type { Medium } from '../api/types';

/** SPEC IN-5: phone chats carry a phone icon in the inbox. */
export function PhoneIcon({ label }: { label: string }) {
  return (
    <svg className="icon icon-phone" data-testid="phone-icon" role="img" aria-label={label} viewBox="0 0 24 24" width="16" height="16">
      <title>{label}</title>
      <path
        fill="currentColor"
        d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z"
      />
    </svg>
  );
}

export function MediumIcon({ medium, label }: { medium: Medium; label: string }) {
  if (medium === 'phone') return <PhoneIcon label={label} />;
  const d =
    medium === 'video'
      ? 'M4 6h11a1 1 0 0 1 1 1v3.5l4-3v9l-4-3V17a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1z'
      : medium === 'voice'
        ? 'M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3zm-7 9h2a5 5 0 0 0 10 0h2a7 7 0 0 1-6 6.9V21h-2v-2.1A7 7 0 0 1 5 12z'
        : 'M4 4h16a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H8l-4 4V5a1 1 0 0 1 1-1z';
  return (
    <svg className={`icon icon-${medium}`} role="img" aria-label={label} viewBox="0 0 24 24" width="16" height="16">
      <title>{label}</title>
      <path fill="currentColor" d={d} />
    </svg>
  );
}

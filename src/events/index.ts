export {
  type CloudEvent,
  dataSchemaOf,
  EVENT_SCHEMA_VERSION,
  type EventData,
  parseCloudEvent,
  sourceOf,
  toCloudEvent,
} from './envelope.js';
export {
  outboxRecords,
  type Replay,
  type ReplayedSession,
  type ReplayGap,
  replaySessions,
} from './replay.js';
export type { EventHandler, EventSink, EventSubscription } from './sink.js';

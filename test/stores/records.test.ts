import { MemoryRecordStore } from '../../src/stores/index.js';
import { describeRecordStore } from '../conformance/record-store.js';

describeRecordStore('MemoryRecordStore', async () => new MemoryRecordStore());

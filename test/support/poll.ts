export { eventually, pollUntil } from '../../src/testing/poll.js';

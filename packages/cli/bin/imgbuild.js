#!/usr/bin/env node
// Committed so npm links the command at install time, before `npm run build` creates dist/.
import("../dist/bin.js");

import assert from "node:assert/strict";
import {
  type AdminState,
  decideInvite,
  decideJoin,
  decideKick,
  decideOwner,
  type JoinState,
  ownerAfterLeave,
  type Refusal,
} from "../../registry/rooms.ts";

type Want = Refusal["code"] | "already" | null;

function verdictCode(v: Refusal | "already" | null): Want {
  return v === null || v === "already" ? v : v.code;
}

const open: JoinState = {
  room: "lobby",
  exists: true,
  locked: false,
  capacity: 3,
  members: 1,
  isMember: false,
  banned: false,
  invited: false,
  passwordGiven: false,
  passwordOk: false,
};

Deno.test("decideJoin", async (t) => {
  const cases: {
    name: string;
    state: Partial<JoinState>;
    want: Want;
    says?: RegExp;
  }[] = [
    { name: "lets anyone into an open room with space", state: {}, want: null },
    {
      name: "refuses a room that does not exist",
      state: { exists: false },
      want: "not_found",
      says: /there is no room 'lobby'/,
    },
    {
      name: "treats a member joining again as already in",
      state: { isMember: true, members: 3 },
      want: "already",
    },
    {
      name: "asks for the password of a locked room when none was given",
      state: { locked: true },
      want: "auth",
      says: /needs a password: \/join lobby --password P/,
    },
    {
      name: "refuses a wrong password",
      state: { locked: true, passwordGiven: true, passwordOk: false },
      want: "auth",
      says: /wrong password for room 'lobby'/,
    },
    {
      name: "lets in with the right password",
      state: { locked: true, passwordGiven: true, passwordOk: true },
      want: null,
    },
    {
      name: "lets an invited user into a locked room without the password",
      state: { locked: true, invited: true },
      want: null,
    },
    {
      name: "refuses a full room",
      state: { members: 3 },
      want: "full",
      says: /room 'lobby' is full \(3 members\)/,
    },
    {
      name: "refuses a full room even to an invited user",
      state: { members: 3, invited: true },
      want: "full",
    },
    {
      name: "refuses a full locked room even with the right password",
      state: {
        members: 3,
        locked: true,
        passwordGiven: true,
        passwordOk: true,
      },
      want: "full",
    },
    {
      name: "lets the last seat be taken",
      state: { members: 2 },
      want: null,
    },
    {
      name:
        "refuses a kicked user until unbanned, password or invitation alike",
      state: {
        banned: true,
        invited: true,
        passwordGiven: true,
        passwordOk: true,
      },
      want: "forbidden",
      says:
        /^you were removed from room 'lobby' and cannot rejoin until its owner unbans you$/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const v = decideJoin({ ...open, ...c.state });
      assert.equal(verdictCode(v), c.want);
      if (c.says) assert.match((v as Refusal).message, c.says);
    });
  }
});

const admin: AdminState = {
  room: "lobby",
  exists: true,
  actor: "alice",
  owner: "alice",
  target: "bob",
  targetIsMember: true,
};

type AdminCase = {
  name: string;
  state: Partial<AdminState>;
  want: Want;
  says?: RegExp;
};

const ownerOnlyCases = (verb: RegExp): AdminCase[] => [
  {
    name: "refuses a room that does not exist",
    state: { exists: false },
    want: "not_found",
    says: /there is no room 'lobby'/,
  },
  {
    name: "refuses anyone but the owner, naming the owner",
    state: { actor: "carol" },
    want: "forbidden",
    says: new RegExp(
      `only the owner of 'lobby' \\(alice\\) can ${verb.source}`,
    ),
  },
];

const adminTables: {
  rule: string;
  decide: (s: AdminState) => Refusal | null;
  cases: AdminCase[];
}[] = [
  {
    rule: "decideKick",
    decide: decideKick,
    cases: [
      { name: "lets the owner remove a member", state: {}, want: null },
      ...ownerOnlyCases(/remove members/),
      {
        name: "tells the owner to leave rather than kick themself",
        state: { target: "alice" },
        want: "invalid",
        says: /use \/leave lobby/,
      },
      {
        name: "refuses to remove someone who is not in the room",
        state: { targetIsMember: false },
        want: "state",
        says: /bob is not in room 'lobby'/,
      },
    ],
  },
  {
    rule: "decideOwner",
    decide: decideOwner,
    cases: [
      {
        name: "lets the owner hand the room to a member",
        state: {},
        want: null,
      },
      ...ownerOnlyCases(/hand over ownership/),
      {
        name: "says so when the owner names themself",
        state: { target: "alice" },
        want: "state",
        says: /you already own room 'lobby'/,
      },
      {
        name: "refuses to hand the room to a non-member",
        state: { targetIsMember: false },
        want: "state",
        says: /only members can own it/,
      },
    ],
  },
  {
    rule: "decideInvite",
    decide: decideInvite,
    cases: [
      {
        name: "lets the owner invite someone outside the room",
        state: { targetIsMember: false },
        want: null,
      },
      ...ownerOnlyCases(/invite/),
      {
        name: "refuses to invite a member",
        state: { targetIsMember: true },
        want: "state",
        says: /bob is already in room 'lobby'/,
      },
    ],
  },
];

for (const table of adminTables) {
  Deno.test(table.rule, async (t) => {
    for (const c of table.cases) {
      await t.step(c.name, () => {
        const v = table.decide({ ...admin, ...c.state });
        assert.equal(verdictCode(v), c.want);
        if (c.says) assert.match(v!.message, c.says);
      });
    }
  });
}

Deno.test("ownerAfterLeave", async (t) => {
  const cases: {
    name: string;
    owner: string;
    order: string[];
    leaving: string;
    want: string | null;
  }[] = [
    {
      name: "keeps the owner when a member leaves",
      owner: "alice",
      order: ["alice", "bob", "carol"],
      leaving: "bob",
      want: "alice",
    },
    {
      name:
        "hands the room to the longest-standing member when the owner leaves",
      owner: "alice",
      order: ["alice", "bob", "carol"],
      leaving: "alice",
      want: "bob",
    },
    {
      name: "follows join order, not the alphabet",
      owner: "bob",
      order: ["zed", "bob", "amy"],
      leaving: "bob",
      want: "zed",
    },
    {
      name: "works when ownership was handed to a later member",
      owner: "carol",
      order: ["alice", "bob", "carol"],
      leaving: "carol",
      want: "alice",
    },
    {
      name: "leaves nobody when the last member goes",
      owner: "alice",
      order: ["alice"],
      leaving: "alice",
      want: null,
    },
    {
      name: "leaves the owner in place when a non-member is named",
      owner: "alice",
      order: ["alice", "bob"],
      leaving: "mallory",
      want: "alice",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.equal(ownerAfterLeave(c.owner, c.order, c.leaving), c.want);
    });
  }
});

"""What the demo holds: people, events, tasks, expenses, chat, pictures and an article.

Plain data, no I/O. Every item carries the natural key that `seed.py` looks it up by before
creating it (a username, an event title per owner, a task or expense title per event, a chat
`clientId`, an album `clientMutationId`, picture content, an article slug), so a second run finds
what the first one made instead of adding it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

DEMO_PASSWORD = "iven-demo-2026"
CLIENT_PREFIX = "seed-demo"  # the chat clientIds and clientMutationIds the demo uses


@dataclass(frozen=True)
class Person:
    username: str
    first_name: str
    last_name: str

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"


PEOPLE = [
    Person("alice.martin", "Alice", "Martin"),
    Person("ben.carter", "Ben", "Carter"),
    Person("chloe.dubois", "Chloé", "Dubois"),
    Person("david.kim", "David", "Kim"),
    Person("emma.rossi", "Emma", "Rossi"),
    Person("farid.haddad", "Farid", "Haddad"),
    Person("grace.okafor", "Grace", "Okafor"),
    Person("hugo.lefevre", "Hugo", "Lefèvre"),
    Person("ines.garcia", "Inès", "García"),
    Person("jonas.weber", "Jonas", "Weber"),
    Person("keiko.tanaka", "Keiko", "Tanaka"),
    Person("liam.oconnor", "Liam", "O'Connor"),
]
ADMIN = Person("nora.admin", "Nora", "Lindqvist")


@dataclass(frozen=True)
class TaskSpec:
    title: str
    description: str
    assignees: tuple[str, ...] = ()
    state: str = "TODO"  # TODO | DONE | VALIDATED
    validator: str | None = None  # an organizer who is not the one who completed it
    due_in: timedelta | None = None  # from the event's start


@dataclass(frozen=True)
class ExpenseSpec:
    title: str
    amount: str
    paid_by: str
    mode: str  # EQUAL | SHARES | EXACT | PERCENT
    parts: tuple[tuple[str, str | None], ...]  # (username, value)
    category: str = "OTHER"
    note: str = ""


@dataclass(frozen=True)
class MessageSpec:
    key: str  # the chat clientId (with CLIENT_PREFIX)
    author: str
    body: str
    reply_to: str | None = None  # the key of an earlier message
    reactions: tuple[tuple[str, str], ...] = ()  # (username, emoji)


@dataclass(frozen=True)
class PictureSpec:
    name: str  # the file name; also the seed of its drawing
    format: str  # JPEG | PNG
    size: tuple[int, int]
    colors: tuple[str, str]  # the gradient's two ends
    uploader: str
    caption: str
    likes: tuple[str, ...] = ()
    comment: tuple[str, str] | None = None  # (username, body)


@dataclass(frozen=True)
class AlbumSpec:
    key: str
    title: str
    description: str
    creator: str
    pictures: tuple[PictureSpec, ...]


@dataclass(frozen=True)
class EventSpec:
    key: str
    title: str
    description: str
    starts_in: timedelta  # from the day of the first run (negative: in the past)
    duration: timedelta
    timezone: str
    location: tuple[str, str, float, float]  # name, address, latitude, longitude
    owner: str
    organizers: tuple[str, ...]
    participants: tuple[str, ...]
    visibility: str = "PRIVATE"
    rsvps: tuple[tuple[str, str], ...] = ()  # (username, GOING | MAYBE | DECLINED)
    pending_invitations: tuple[str, ...] = ()  # invited by the owner, left unanswered
    join_requests: tuple[str, ...] = ()  # asked through the share token (UNLISTED events)
    tasks: tuple[TaskSpec, ...] = ()
    expenses: tuple[ExpenseSpec, ...] = ()
    settlements: tuple[tuple[str, str, str], ...] = ()  # (from, to, amount)
    messages: tuple[MessageSpec, ...] = ()
    albums: tuple[AlbumSpec, ...] = field(default=())


TRIP = EventSpec(
    key="trip",
    title="Weekend in Chamonix",
    description="Hiking, fondue and a cable car to the Aiguille du Midi. Chalet for eight.",
    starts_in=timedelta(days=24, hours=17),
    duration=timedelta(days=2, hours=5),
    timezone="Europe/Paris",
    location=("Chalet Les Mélèzes", "74400 Chamonix-Mont-Blanc, France", 45.9237, 6.8694),
    owner="alice.martin",
    organizers=("ben.carter",),
    participants=("chloe.dubois", "david.kim", "emma.rossi", "farid.haddad"),
    rsvps=(("ben.carter", "GOING"), ("chloe.dubois", "GOING"), ("david.kim", "MAYBE")),
    pending_invitations=("keiko.tanaka",),
    tasks=(
        TaskSpec(
            "Book the chalet",
            "Two nights, eight beds, kitchen.",
            ("chloe.dubois",),
            "VALIDATED",
            validator="ben.carter",
        ),
        TaskSpec("Rent a van", "Nine seats, pick-up Friday noon.", ("david.kim",), "DONE"),
        TaskSpec(
            "Buy groceries",
            "Breakfasts and the fondue night.",
            ("emma.rossi", "farid.haddad"),
            due_in=timedelta(hours=-3),
        ),
        TaskSpec("Pack the first-aid kit", "Blister plasters, sun cream, painkillers."),
    ),
    expenses=(
        ExpenseSpec(
            "Chalet (two nights)",
            "640.00",
            "chloe.dubois",
            "EQUAL",
            tuple(
                (u, None)
                for u in (
                    "alice.martin",
                    "ben.carter",
                    "chloe.dubois",
                    "david.kim",
                    "emma.rossi",
                    "farid.haddad",
                )
            ),
            category="LODGING",
        ),
        ExpenseSpec(
            "Van and fuel",
            "186.40",
            "david.kim",
            "SHARES",
            (("alice.martin", "1"), ("ben.carter", "1"), ("david.kim", "2"), ("emma.rossi", "1")),
            category="TRANSPORT",
            note="David drives both ways: double share.",
        ),
        ExpenseSpec(
            "Groceries",
            "93.75",
            "emma.rossi",
            "EXACT",
            (
                ("emma.rossi", "20.00"),
                ("farid.haddad", "25.50"),
                ("alice.martin", "28.25"),
                ("chloe.dubois", "20.00"),
            ),
            category="FOOD",
        ),
    ),
    messages=(
        MessageSpec(
            "trip-1",
            "alice.martin",
            "The chalet is booked for the whole weekend! 🏔️",
            reactions=(("ben.carter", "🎉"), ("chloe.dubois", "🎉"), ("david.kim", "👍")),
        ),
        MessageSpec(
            "trip-2",
            "ben.carter",
            "Great! @david.kim can you confirm the van for Friday noon?",
            reply_to="trip-1",
        ),
        MessageSpec(
            "trip-3",
            "david.kim",
            "Confirmed, nine seats. Bring small bags please 🙏",
            reply_to="trip-2",
            reactions=(("ben.carter", "👍"),),
        ),
        MessageSpec(
            "trip-4",
            "emma.rossi",
            "@farid.haddad shall we do the groceries together on Thursday?",
        ),
        MessageSpec("trip-5", "farid.haddad", "Sure, after work 🛒", reply_to="trip-4"),
    ),
    albums=(
        AlbumSpec(
            "trip-scouting",
            "Scouting",
            "Where we are going",
            "alice.martin",
            (
                PictureSpec(
                    "mont-blanc.jpg",
                    "JPEG",
                    (1200, 800),
                    ("#1e3c72", "#e0eafc"),
                    "alice.martin",
                    "The view from the chalet's balcony",
                    likes=("ben.carter", "chloe.dubois"),
                    comment=("ben.carter", "Wow, can't wait!"),
                ),
                PictureSpec(
                    "trail-map.png",
                    "PNG",
                    (900, 900),
                    ("#134e5e", "#71b280"),
                    "ben.carter",
                    "Saturday's loop: 14 km, 900 m up",
                    likes=("alice.martin",),
                ),
                PictureSpec(
                    "sunset-lake.jpg",
                    "JPEG",
                    (800, 1200),
                    ("#ff7e5f", "#feb47b"),
                    "chloe.dubois",
                    "Lac Blanc at sunset, if we are lucky",
                ),
            ),
        ),
    ),
)

BIRTHDAY = EventSpec(
    key="birthday",
    title="Emma's 30th birthday",
    description="Drinks, cake and a dance floor. Dress code: something with sequins.",
    starts_in=timedelta(days=38, hours=19),
    duration=timedelta(hours=6),
    timezone="Europe/Rome",
    location=("La Terrazza", "Via Roma 12, 10121 Torino, Italy", 45.0677, 7.6824),
    owner="emma.rossi",
    organizers=("grace.okafor",),
    participants=("alice.martin", "hugo.lefevre", "ines.garcia", "jonas.weber"),
    visibility="UNLISTED",
    rsvps=(("hugo.lefevre", "GOING"), ("ines.garcia", "MAYBE"), ("jonas.weber", "DECLINED")),
    pending_invitations=("keiko.tanaka",),
    join_requests=("liam.oconnor",),
    tasks=(
        TaskSpec(
            "Book the terrace",
            "Private area from 19:00, sound system included.",
            ("ines.garcia",),
            "VALIDATED",
            validator="grace.okafor",
        ),
        TaskSpec(
            "Order the cake", "Chocolate and raspberries, 30 portions.", ("hugo.lefevre",), "DONE"
        ),
        TaskSpec("Make a playlist", "Nineties first, then anything.", ("jonas.weber",)),
        TaskSpec("Collect money for the gift", "", ("grace.okafor",)),
    ),
    expenses=(
        ExpenseSpec(
            "Gift: weekend in Venice",
            "300.00",
            "grace.okafor",
            "PERCENT",
            (
                ("grace.okafor", "25"),
                ("alice.martin", "25"),
                ("hugo.lefevre", "25"),
                ("ines.garcia", "12.5"),
                ("jonas.weber", "12.5"),
            ),
            category="OTHER",
        ),
    ),
    messages=(
        MessageSpec(
            "bday-1",
            "grace.okafor",
            "Shh, the gift is a surprise! Everyone in for Venice?",
            reactions=(("alice.martin", "❤️"), ("hugo.lefevre", "❤️"), ("ines.garcia", "👍")),
        ),
        MessageSpec("bday-2", "hugo.lefevre", "In! @ines.garcia you too?", reply_to="bday-1"),
        MessageSpec("bday-3", "ines.garcia", "Of course 🥳", reply_to="bday-2"),
    ),
    albums=(
        AlbumSpec(
            "bday-invitation",
            "Invitation",
            "The card that went out",
            "emma.rossi",
            (
                PictureSpec(
                    "invitation-card.png",
                    "PNG",
                    (1000, 700),
                    ("#f953c6", "#b91d73"),
                    "emma.rossi",
                    "Save the date!",
                    likes=("grace.okafor", "hugo.lefevre"),
                ),
            ),
        ),
    ),
)

DINNER = EventSpec(
    key="dinner",
    title="Dinner at Chez Marcel",
    description="Our monthly dinner. Marcel's duck confit is not optional.",
    starts_in=timedelta(days=-12, hours=20),
    duration=timedelta(hours=3),
    timezone="Europe/Paris",
    location=("Chez Marcel", "7 rue des Martyrs, 75009 Paris, France", 48.8787, 2.3399),
    owner="david.kim",
    organizers=("farid.haddad",),
    participants=("alice.martin", "ben.carter", "grace.okafor", "keiko.tanaka"),
    rsvps=(("alice.martin", "GOING"), ("keiko.tanaka", "GOING")),
    tasks=(
        TaskSpec(
            "Reserve a table for six",
            "",
            ("farid.haddad",),
            "VALIDATED",
            validator="david.kim",
        ),
        TaskSpec("Bring the birthday candle for Ben", "", ("keiko.tanaka",), "DONE"),
    ),
    expenses=(
        ExpenseSpec(
            "Dinner bill",
            "312.00",
            "farid.haddad",
            "EQUAL",
            tuple(
                (u, None)
                for u in (
                    "david.kim",
                    "farid.haddad",
                    "alice.martin",
                    "ben.carter",
                    "grace.okafor",
                    "keiko.tanaka",
                )
            ),
            category="FOOD",
        ),
        ExpenseSpec(
            "Wine",
            "84.00",
            "david.kim",
            "SHARES",
            (("david.kim", "2"), ("farid.haddad", "2"), ("ben.carter", "1"), ("grace.okafor", "1")),
            category="DRINKS",
        ),
        ExpenseSpec(
            "Taxi home",
            "36.80",
            "alice.martin",
            "EXACT",
            (("alice.martin", "18.40"), ("keiko.tanaka", "18.40")),
            category="TRANSPORT",
        ),
    ),
    settlements=(
        ("alice.martin", "farid.haddad", "33.60"),
        ("ben.carter", "farid.haddad", "66.00"),
    ),
    messages=(
        MessageSpec(
            "dinner-1",
            "david.kim",
            "Thanks all for a lovely evening! I put the bill in expenses.",
            reactions=(("keiko.tanaka", "🙏"), ("farid.haddad", "👍")),
        ),
        MessageSpec(
            "dinner-2",
            "alice.martin",
            "Paid you back @farid.haddad 💸",
            reply_to="dinner-1",
        ),
    ),
    albums=(
        AlbumSpec(
            "dinner-night",
            "The evening",
            "",
            "keiko.tanaka",
            (
                PictureSpec(
                    "table.jpg",
                    "JPEG",
                    (1024, 768),
                    ("#3a1c71", "#ffaf7b"),
                    "keiko.tanaka",
                    "The table before the duck arrived",
                    likes=("david.kim", "alice.martin", "grace.okafor"),
                    comment=("david.kim", "Best night of the month."),
                ),
                PictureSpec(
                    "dessert.jpg",
                    "JPEG",
                    (768, 1024),
                    ("#c94b4b", "#4b134f"),
                    "grace.okafor",
                    "Tarte Tatin for six",
                ),
            ),
        ),
    ),
)

EVENTS = [TRIP, BIRTHDAY, DINNER]

ARTICLE_SLUG = "plan-your-first-trip-with-iven"
ARTICLE_TITLE = "Plan your first trip with IVEN"
ARTICLE_SUMMARY = "Events, tasks, shared expenses and photos: a five-minute tour."
ARTICLE_TAGS = ["guide", "getting-started"]
ARTICLE_BODY = """\
Planning a weekend with friends means a dozen chats, three spreadsheets and a photo album
nobody finds. IVEN keeps it in one place.

## Create the event

Give it a title, dates and a place, then **invite** your friends by username or email, or share
an invite link. Organizers can change the plan; everyone can chat, add photos and expenses.

## Split the work

Add tasks and assign them. Whoever is assigned marks a task *done*; an organizer **validates**
it, so nothing falls through the cracks.

## Split the costs

Record who paid what and how to split it: equally, by shares, exact amounts or percentages.
IVEN keeps everyone's balance and suggests the fewest transfers to settle up.

Have a great trip!
"""

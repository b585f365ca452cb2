// Every sentence the widget itself says, in one place, in plain language.
// Texts from the program (name, notice, questions, check-in) come from its signed profile.

export const TEXT = Object.freeze({
  quickExit: "Quick exit",
  quickExitHint: "To leave this page at once, use Quick exit or press Shift three times.",
  checking: "Checking that the chat is available",
  oneMoment: "One moment, please.",
  openNow: "The chat is open now.",
  hoursHeading: "Chat hours",
  timezone: (tz) => `Times are in the ${tz} time zone.`,
  safetyBeforeStart:
    "If someone else may see this device, chat may not be safe. You can leave at any time " +
    "with Quick exit, and nothing from the chat is kept on this device.",
  startChat: "Start a chat",
  // Unavailable reasons
  outsideHours: "The chat is closed right now",
  outsideHoursBody: "You can reach us during the chat hours below, or in the other ways listed.",
  closed: "The chat is closed right now",
  busy: "All our support workers are busy right now",
  busyBody: "Please try again in a little while, or reach us in one of the other ways below.",
  outage: "The chat is not working right now",
  unknownStatus: "We cannot confirm the chat is open right now",
  unreachable: "The chat cannot be reached right now",
  unreachableBody:
    "This may be a problem with the connection or with our chat service. " +
    "You can still reach us in the ways below.",
  otherWays: "Other ways to reach us",
  checkAgain: "Check again",
  // Rights notice
  rightsHeading: "Before you start: your rights and choices",
  rightsIntro: "Please read this. The message box opens when you say you have read it.",
  voluntary: "Your choice",
  choices: "What you share",
  information: "How we handle information",
  mandatoryReporting: "When we must report",
  moreAbout: "More about how we handle information",
  sameTab: "(opens in this tab, in place of this page)",
  acknowledge: "I have read this, continue",
  // Questions
  questionsHeading: "Some optional questions",
  questionsIntro:
    "You do not have to answer any of these to get help. Skip any or all of them. " +
    "Answers are sent only to the program, encrypted, and only once the chat starts.",
  whyAsked: "Why we ask: ",
  skipOne: "Skip this question",
  skipped: "Skipped",
  undoSkip: "Answer this question",
  skipAll: "Skip all questions and start the chat",
  sendAnswers: "Start the chat",
  yourAnswer: "Your answer (optional)",
  // Chat
  connecting: "Connecting you securely",
  chatHeading: "Chat",
  conversation: "Conversation",
  waiting: "Waiting for a support worker. You can start writing now.",
  from: { program: "Support worker", me: "You", notice: "Notice", checkIn: "Safety check-in" },
  noticeKinds: {
    rights: "Rights and choices",
    safety_check_in: "Safety check-in",
    inactivity: "Inactivity",
    closing: "Closing",
    shift_change: "New support worker",
    transfer: "New support worker",
    code_word_request: "Code word",
    custom: "Notice",
  },
  missing:
    "A message may be missing here. If something seems left out, you can ask the support worker.",
  yourMessage: "Your message",
  send: "Send",
  notSent: "Your last message could not be sent. Please try again.",
  codeWordLabel: "Your code word",
  codeWordSend: "Send code word",
  codeWordSent: "Code word sent.",
  inviteDeclined: (role) =>
    `The support worker asked to add someone${role ? ` (${role})` : ""} to this chat. ` +
    "This chat window cannot add anyone, so the conversation stays between you and the program.",
  endChat: "End chat",
  endConfirmQuestion: "End this chat now? The conversation will be erased from this page.",
  endConfirmYes: "Yes, end the chat",
  endConfirmNo: "No, keep chatting",
  duress: "Someone is here",
  duressHint: "Leaves at once and quietly tells the support worker you cannot talk.",
  // Ending
  endedHeading: "This chat has ended",
  endedBody: "Nothing from it is kept on this page.",
  // Verification failure
  warningHeading: "We stopped this chat to protect you",
  warningBody:
    "We could not confirm that this chat is really connected to the program. Someone may " +
    "be interfering with the connection. Nothing more was sent, and nothing we could not " +
    "confirm was shown.",
  warningAdvice: "If you can, reach us in another way, maybe from a different device.",
});

// The teacher's buttons in a chat: homework, who handed in, a meeting (now or later), a new
// chat with a link and its QR code, revoking links. Each writes the bots' own text command
// in the chat — the same command a teacher types in any other Matrix client — and the
// school's bot answers there. Shown to staff by the roster with a teacher's power in the
// chat, which is what the bots check too.

import { h } from "./dom.js";
import * as M from "./model.js";

export const withTeacher = (Base) =>
  class extends Base {
    /** Whether the teacher's buttons belong in this chat for this person. */
    teachesHere(room) {
      if (!this.cfg.staff) return false;
      const levels = room.currentState.getStateEvents("m.room.power_levels", "")?.getContent();
      const create = room.currentState.getStateEvents("m.room.create", "");
      const power = M.powerOf(
        levels, create ? { sender: create.getSender(), content: create.getContent() } : null, this.me,
      );
      return power >= M.STAFF_POWER;
    }

    openTeacher(room) {
      const t = this.t;
      const act = (label, run, testid) => h("button", { type: "button", "data-testid": testid, onClick: run }, label);
      this.showDialog(
        t.teacher,
        h("p", { class: "hint" }, t.teacherHint),
        h(
          "div",
          { class: "m-teacher-actions" },
          act(t.setHomework, () => this.homeworkForm(room), "teacher-homework"),
          act(t.whoHandedIn, () => this.askBot(room.roomId, M.commands.handedIn()), "teacher-handed-in"),
          act(t.meeting, () => this.meetingForm(room), "teacher-meeting"),
          act(t.newLinkChat, () => this.linkChatForm(room), "teacher-chat"),
          act(t.revokeLinks, () => this.revokeForm(room), "teacher-revoke"),
        ),
      );
    }

    async askBot(roomId, body) {
      this.dialog.close();
      try {
        await this.client.sendMessage(roomId, { msgtype: "m.text", body });
        this.say(this.t.asked);
      } catch (e) {
        this.fail(M.refusalOf(e, this.t));
      }
    }

    /** A small form in the dialog: its fields, and what to send when it is filled. */
    commandForm(title, fields, submitLabel, build) {
      const t = this.t;
      const error = h("p", { class: "error", role: "alert" });
      const form = h(
        "form",
        {
          class: "m-form",
          onSubmit: (e) => {
            e.preventDefault();
            let body;
            try {
              body = build();
            } catch (err) {
              error.textContent = err.message === "when" ? t.needWhen : t.needText;
              return;
            }
            this.askBot(this.roomId, body);
          },
        },
        ...fields,
        error,
        h("button", { type: "submit", class: "primary" }, submitLabel),
      );
      this.showDialog(title, form);
      form.querySelector("input, textarea, select")?.focus();
    }

    homeworkForm() {
      const t = this.t;
      const text = h("textarea", { id: "m-homework", rows: "3", maxlength: "2000", required: true });
      this.commandForm(
        t.setHomework,
        [h("label", { for: "m-homework" }, t.homeworkText), text],
        t.send,
        () => M.commands.homework(text.value),
      );
    }

    meetingForm() {
      const t = this.t;
      const now = h("input", { type: "radio", name: "m-when", id: "m-when-now", value: "now", checked: true });
      const later = h("input", { type: "radio", name: "m-when", id: "m-when-later", value: "later" });
      const date = h("input", { type: "date", id: "m-meeting-date" });
      const at = h("input", { type: "time", id: "m-meeting-time" });
      const minutes = h("input", { type: "number", id: "m-meeting-minutes", min: "5", max: "240", value: "45" });
      const topic = h("input", { id: "m-meeting-topic", maxlength: "200" });
      this.commandForm(
        t.meeting,
        [
          h("fieldset", { class: "m-when" },
            h("legend", { class: "visually-hidden" }, t.meeting),
            h("label", { for: "m-when-now" }, now, ` ${t.meetingNow}`),
            h("label", { for: "m-when-later" }, later, ` ${t.meetingLater}`)),
          h("div", { class: "m-row" },
            h("span", {}, h("label", { for: "m-meeting-date" }, t.date), date),
            h("span", {}, h("label", { for: "m-meeting-time" }, t.time), at),
            h("span", {}, h("label", { for: "m-meeting-minutes" }, t.minutes), minutes)),
          h("label", { for: "m-meeting-topic" }, t.topic),
          topic,
        ],
        t.create,
        () => M.commands.meeting(
          now.checked ? "now" : { date: date.value, time: at.value }, minutes.value, topic.value,
        ),
      );
      for (const input of [date, at]) input.addEventListener("input", () => { later.checked = true; });
    }

    linkChatForm() {
      const t = this.t;
      const name = h("input", { id: "m-link-chat", maxlength: "120", required: true });
      const audience = h(
        "select",
        { id: "m-link-audience" },
        ...t.audiences.map(([words, label]) => h("option", { value: words }, label)),
      );
      this.commandForm(
        t.newLinkChat,
        [h("label", { for: "m-link-chat" }, t.chatName), name,
          h("label", { for: "m-link-audience" }, t.forWhom), audience],
        t.create,
        () => M.commands.chat(name.value, audience.value === "для всех" ? "" : audience.value),
      );
    }

    revokeForm(room) {
      const t = this.t;
      this.showDialog(
        t.revokeLinks,
        h("p", {}, t.revokeQuestion),
        h("button", { type: "button", class: "primary", onClick: () => this.askBot(room.roomId, M.commands.revoke()) },
          t.revoke),
      );
    }
  };

"""Common given names in Spain and the English-speaking world, lower case, accents kept.

Our own list, from memory of the most frequent given names in Spain's INE statistics and the US
SSA and UK ONS lists (no external data file is read). Used by the PERSON detector: a capitalized
pair such as "Lucía Romero" is a name when its first word is here, with or without a cue word.
"""

from __future__ import annotations

__all__ = ["FIRST_NAMES"]

_SPANISH = """
antonio manuel jose josé francisco david juan javier daniel carlos jesús jesus alejandro miguel rafael pedro
pablo ángel angel sergio fernando jorge luis alberto álvaro alvaro adrián adrian diego raúl raul iván ivan
rubén ruben enrique óscar oscar ramón ramon vicente andrés andres joaquín joaquin santiago víctor victor
eduardo mario roberto jaime marcos ignacio alfonso hugo jordi salvador ricardo emilio gabriel guillermo
gonzalo julio julián julian mohamed martín martin marc tomás tomas agustín agustin nicolás nicolas cristian
samuel héctor hector felipe lorenzo gregorio esteban ismael aitor iñaki inaki xavier josep lucas mateo leo
izan unai iker gael bruno marco nil pol rodrigo simón simon césar cesar arturo ernesto gerardo teodoro
maría maria carmen ana isabel laura dolores pilar teresa rosa cristina marta francisca antonia mercedes lucía
lucia elena sara paula raquel manuela rocío rocio beatriz julia encarnación encarnacion silvia patricia irene
nuria alba montserrat rosario andrea mónica monica inmaculada concepción concepcion sonia sandra yolanda
susana eva marina ángela angela alicia margarita natalia esther claudia noelia verónica veronica carolina
lorena amparo nerea inés ines miriam victoria sofía sofia martina valeria daniela alma olivia emma jimena
carla lola vega aitana noa abril triana adriana celia gloria rebeca leire ainhoa itziar begoña begona
almudena macarena soledad consuelo remedios milagros asunción asuncion esperanza guadalupe trinidad
fátima fatima estrella marisol lourdes catalina josefa juana ainara aroa ariadna lidia diana alejandra
"""
_ENGLISH = """
james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony
mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan
jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander
frank patrick raymond jack dennis jerry tyler aaron henry adam peter nathan zachary douglas harold kyle
walter ethan jeremy christian keith roger noah gerald carl terry sean austin arthur lawrence jesse dylan
bryan joe jordan billy bruce albert willie gabriel logan alan juan wayne roy ralph randy eugene vincent
russell elijah louis bobby philip johnny oliver harry george charlie freddie alfie archie leo oscar
mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra
ashley kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie rebecca sharon laura
cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha katherine christine
debra rachel carolyn janet catherine maria heather diane ruth julie olivia joyce virginia victoria kelly
lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline martha gloria teresa ann sara
madison frances kathryn janice jean abigail alice judy sophia grace denise amber doris marilyn danielle
beverly isabella theresa diana natalie brittany charlotte marie kayla alexis lori amelia isla ava mia
harriet eleanor priya tammy tanya tricia renee annette alisha april june may melody holly noah liam ethan
chloe ruby mason logan lily poppy freya
"""
FIRST_NAMES = frozenset((_SPANISH + _ENGLISH).split())
